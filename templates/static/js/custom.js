/*
 * WebGear_RTC default player.
 *
 * Plain browser JS (ES2020, no modules, no dependencies) so it works offline on
 * a LAN and under a strict CSP (`script-src 'self'`): configuration comes from
 * the data-config attribute rendered by the server, never from inline script.
 *
 * Signaling contract (non-trickle):
 *   POST config.offerUrl  {sdp, type:'offer'}  -> 2xx {sdp, type:'answer', id}
 *                                               -> non-2xx {error}
 *   POST config.closeUrl  {id}  (text/plain, via sendBeacon on page exit)
 */
(function () {
  'use strict';

  // Used only if the server sends no usable value; the server normally does.
  const DEFAULT_ICE_GATHERING_TIMEOUT_MS = 5000;

  // Human-readable text for each RTCPeerConnection.connectionState.
  const STATE_TEXT = {
    new: 'connecting…',
    connecting: 'connecting…',
    connected: 'live',
    disconnected: 'disconnected',
    failed: 'failed',
    closed: 'closed',
  };

  // Older browsers only have iceConnectionState; map it onto connectionState names.
  const ICE_TO_CONNECTION_STATE = {
    new: 'new',
    checking: 'connecting',
    connected: 'connected',
    completed: 'connected',
    disconnected: 'disconnected',
    failed: 'failed',
    closed: 'closed',
  };

  const root = document.getElementById('webgear');
  const video = document.getElementById('video');
  const statusEl = document.getElementById('status');

  let config = null;
  let pc = null; // current RTCPeerConnection
  let id = null; // server-side connection id, needed to close it
  let closeSent = false; // never close the same id twice
  let tornDown = false; // teardown must run once per connection

  // Update the status line; data-state lets CSS colour it.
  function showState(text, state) {
    if (!statusEl) return;
    statusEl.textContent = text;
    statusEl.dataset.state = state || 'connecting';
  }

  function fail(message) {
    showState(message, 'error');
    if (window.console) console.error('[webgear] ' + message);
  }

  function readConfig() {
    if (!root) throw new Error('player element #webgear not found');
    const cfg = JSON.parse(root.dataset.config || '{}');
    if (!cfg || typeof cfg.offerUrl !== 'string' || typeof cfg.closeUrl !== 'string') {
      throw new Error('invalid player configuration');
    }
    return cfg;
  }

  function connectionState(conn) {
    if (conn.connectionState) return conn.connectionState;
    return ICE_TO_CONNECTION_STATE[conn.iceConnectionState] || 'new';
  }

  function onStateChange() {
    if (!pc || tornDown) return;
    const state = connectionState(pc);
    showState(STATE_TEXT[state] || state, state);
  }

  // The server is not trickle-capable: it needs the candidates in the SDP, so
  // wait for gathering to complete, but never longer than timeoutMs (a STUN
  // server unreachable on an offline LAN would otherwise stall us for ~40s).
  function waitForIceGathering(conn, timeoutMs) {
    if (conn.iceGatheringState === 'complete') return Promise.resolve();
    const ms = Number.isFinite(timeoutMs) && timeoutMs >= 0 ? timeoutMs : DEFAULT_ICE_GATHERING_TIMEOUT_MS;
    return new Promise(function (resolve) {
      let timer = null;
      function done() {
        clearTimeout(timer);
        conn.removeEventListener('icegatheringstatechange', onChange);
        conn.removeEventListener('icecandidate', onCandidate);
        resolve();
      }
      function onChange() {
        if (conn.iceGatheringState === 'complete') done();
      }
      // A null candidate also signals end of gathering (some browsers skip the state event).
      function onCandidate(e) {
        if (!e.candidate) done();
      }
      conn.addEventListener('icegatheringstatechange', onChange);
      conn.addEventListener('icecandidate', onCandidate);
      timer = setTimeout(done, ms);
    });
  }

  // Read an error message from a non-2xx answer; the body may not be JSON
  // (e.g. a proxy error page), so fall back to the HTTP status.
  async function errorFromResponse(res) {
    let message = 'HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : '');
    try {
      const body = await res.json();
      if (body && typeof body.error === 'string' && body.error) message = body.error;
    } catch (_) {
      /* keep the status-based message */
    }
    return message;
  }

  async function start() {
    tornDown = false;
    closeSent = false;
    id = null;
    showState(STATE_TEXT.connecting, 'connecting');

    pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
    const conn = pc;

    // Receive-only: the browser only watches the server's stream.
    conn.addTransceiver('video', { direction: 'recvonly' });

    conn.ontrack = function (e) {
      const stream = e.streams[0] || new MediaStream([e.track]);
      if (video.srcObject !== stream) video.srcObject = stream;
      // Autoplay policies may still reject play(); the user can press play.
      const p = video.play();
      if (p && typeof p.catch === 'function') p.catch(function () {});
    };
    conn.onconnectionstatechange = onStateChange;
    if (!('connectionState' in conn)) conn.oniceconnectionstatechange = onStateChange;

    await conn.setLocalDescription(await conn.createOffer());
    await waitForIceGathering(conn, config.iceGatheringTimeoutMs);
    if (tornDown || conn !== pc) return; // page left while gathering

    const res = await fetch(config.offerUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sdp: conn.localDescription.sdp, type: conn.localDescription.type }),
    });
    if (!res.ok) {
      const message = await errorFromResponse(res);
      teardown(); // nothing to resume: release the local peer connection
      fail(message);
      return;
    }

    const answer = await res.json();
    // Keep the id first so teardown can close the server side even if the answer is unusable.
    if (answer && answer.id !== undefined && answer.id !== null) id = answer.id;
    if (tornDown || conn !== pc) {
      sendClose(); // page left while the offer was in flight
      return;
    }
    if (!answer || typeof answer.sdp !== 'string') throw new Error('invalid answer from server');
    await conn.setRemoteDescription({ sdp: answer.sdp, type: answer.type || 'answer' });
    onStateChange();
  }

  // Tell the server to drop its peer connection. sendBeacon survives page
  // unload; text/plain keeps it a CORS-simple request (no preflight).
  function sendClose() {
    if (closeSent || id === null || id === undefined || !config) return;
    closeSent = true;
    const body = JSON.stringify({ id: id });
    let sent = false;
    try {
      if (navigator.sendBeacon) {
        sent = navigator.sendBeacon(config.closeUrl, new Blob([body], { type: 'text/plain' }));
      }
    } catch (_) {
      sent = false;
    }
    if (!sent) {
      try {
        fetch(config.closeUrl, {
          method: 'POST',
          keepalive: true,
          headers: { 'Content-Type': 'text/plain' },
          body: body,
        }).catch(function () {});
      } catch (_) {
        /* nothing else we can do while unloading */
      }
    }
  }

  function teardown() {
    if (tornDown) return;
    tornDown = true;
    sendClose();
    if (pc) {
      // Detach handlers so closing does not overwrite the final status text.
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      pc.oniceconnectionstatechange = null;
      try {
        pc.close();
      } catch (_) {
        /* already closed */
      }
    }
    // Callers that failed overwrite this with their error message afterwards.
    showState(STATE_TEXT.closed, 'closed');
  }

  // pagehide is the reliable exit signal (also fires on mobile and bfcache);
  // beforeunload is a fallback for browsers that skip it. teardown() runs once.
  window.addEventListener('pagehide', teardown);
  window.addEventListener('beforeunload', teardown);

  // Read-only handle for debugging and tests.
  window.webgear = {
    get pc() {
      return pc;
    },
    get id() {
      return id;
    },
    get state() {
      return pc ? pc.connectionState : 'new';
    },
  };

  try {
    config = readConfig();
  } catch (err) {
    fail('configuration error: ' + (err && err.message ? err.message : err));
    return;
  }
  if (typeof window.RTCPeerConnection !== 'function') {
    fail('WebRTC is not supported by this browser');
    return;
  }

  start().catch(function (err) {
    if (tornDown) return; // errors after leaving the page are expected
    teardown();
    fail('error: ' + (err && err.message ? err.message : err));
  });
})();
