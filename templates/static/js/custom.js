/*
 * WebGear_RTC default player.
 *
 * Plain browser JS (ES2020, no modules, no dependencies) so it works offline on
 * a LAN. index.html has it inline (a round trip sooner) and by URL: under a
 * strict CSP (`script-src 'self'`) the inline copy is refused and this file runs.
 * Configuration comes from the server: `<meta name="webgear-config" content="...">` in <head> (the default
 * page: the player connects while the rest of the page is still parsed), or the data-config attribute of
 * #webgear (themes written for vidgear's layout: the player connects once that element is parsed).
 *
 * Signaling is WHEP with trickle ICE:
 *   POST config.whepUrl  (application/sdp offer)  -> 201 answer, Location: the session
 *   PATCH <Location>     (application/trickle-ice-sdpfrag: candidates found later)
 *   DELETE <Location>    (on leaving the page, keepalive)
 * The offer goes out at once, without our candidates and without waiting for
 * ICE gathering: the server's candidates are in its answer, and its replies to
 * our checks are all it needs. Ours follow by PATCH only if the connection is
 * not up soon (werift checks every candidate it is given, 20 ms apart, before
 * it calls ICE done: candidates it does not need delay the picture).
 * When the connection fails or the server goes away, it reconnects with backoff.
 */
(function () {
  'use strict';

  // The page carries the player twice: inline (it starts a round trip sooner) and by URL (for a page whose
  // Content-Security-Policy refuses inline scripts). The first to run is the player.
  if (window.webgearRtcPlayer) return;
  window.webgearRtcPlayer = true;

  // Waits between reconnection attempts; the last one repeats.
  const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
  // A connection this long `disconnected` is given up (ICE alone would wait ~30 s).
  const DISCONNECTED_GRACE_MS = 4000;
  // Connected this long: the next failure starts the backoff over.
  const STABLE_AFTER_MS = 10000;
  // Not connected this long after the answer: send our candidates (a server behind NAT needs them).
  const TRICKLE_AFTER_MS = 700;
  // A lossy link: a packet repaired by a NACK arrives a round trip late, and Chromium decodes its frame with
  // the one behind it and shows one of them for less than a refresh (at 2 % loss over 40 ms RTT, 25 of 30
  // frames a second shown, every one decoded). While repairs come this often, the player asks the browser
  // for a jitter buffer long enough to hide one (at 40 ms RTT, 300 ms: ~190 ms buffered, 30 fps shown;
  // docs/real-networks.md), and gives it back once the link has been clean a while. Never when the page
  // set jitterBufferTarget itself.
  // It counts repairs against the packets received, so that it acts as soon on the lower renditions a
  // viewer starts on (fewer packets, fewer losses a second) as on the top one: at 2 % loss, 5 repairs took
  // 3-6 s to come, and the picture was not smooth until then. And only repairs at least spreadMs apart: one
  // burst (a probe past a thin link's rate, once) costs a frame, not worth seconds of delay.
  const SMOOTH_CHECK_MS = 500;
  const SMOOTH_AFTER = { repairs: 2, share: 0.005, spreadMs: 1000, withinMs: 5000 };
  const SMOOTH_UNTIL = { repairs: 1, withinMs: 20000 };
  function smoothingTargetMs(rttMs) {
    return Math.min(1000, Math.max(300, 5 * rttMs + 100));
  }

  const STATE_TEXT = {
    new: 'connecting…',
    connecting: 'connecting…',
    connected: 'live',
    disconnected: 'reconnecting…',
    failed: 'connection failed',
    closed: 'closed',
  };

  // The page's elements, found once the document is parsed: the script may run before (async in <head>,
  // so that the connection starts while the page still loads) or after (defer, or at the end of <body>).
  let video = null;
  let statusEl = null;
  let unmuteButton = null;
  const media = new MediaStream(); // what the video element plays, across reconnections
  let shownState = ['connecting…', 'connecting'];
  let heardAudio = false;

  let config = null;
  let session = null; // the current connection: { pc, resourceUrl, etag, candidates, ended }
  let attempt = 0; // failed attempts in a row, for the backoff
  let retryTimer = null;
  let leaving = false; // the page is going away: never reconnect

  function showState(text, state) {
    shownState = [text, state || 'connecting'];
    if (!statusEl) return;
    statusEl.textContent = shownState[0];
    statusEl.dataset.state = shownState[1];
  }

  function whenParsed(fn) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn, { once: true });
    else fn();
  }

  function play() {
    // Given only once it has a track: an empty stream would delay the page's load event for good.
    if (!video || !media.getTracks().length) return;
    if (video.srcObject !== media) video.srcObject = media;
    // Muted autoplay is allowed everywhere; play() may still be refused until the user acts.
    const p = video.play();
    if (p && typeof p.catch === 'function') p.catch(function () {});
  }

  // The video's controls appear with its first picture, not before: until then Chromium animates a
  // loading spinner in them, drawing frames the connection setup needs the CPU for.
  function showControlsOnFirstFrame() {
    if (!video || video.controls) return;
    const show = function () { video.controls = true; };
    if (typeof video.requestVideoFrameCallback === 'function') video.requestVideoFrameCallback(show);
    else video.addEventListener('loadeddata', show, { once: true });
  }

  // Binds the page's elements (once parsed) to the state and the stream that may have come already.
  function bindPage() {
    video = document.getElementById('video');
    showControlsOnFirstFrame();
    statusEl = document.getElementById('status');
    unmuteButton = document.getElementById('unmute');
    showState(shownState[0], shownState[1]);
    if (unmuteButton) {
      unmuteButton.hidden = !heardAudio;
      unmuteButton.addEventListener('click', function () {
        video.muted = !video.muted;
        unmuteButton.textContent = video.muted ? 'Unmute' : 'Mute';
        if (!video.muted) play();
      });
    }
    play();
  }

  function log(message) {
    if (window.console) console.info('[webgear] ' + message);
  }

  // The element that carries the configuration: the <meta> in <head>, else #webgear (null: not parsed yet).
  function configElement() {
    return document.querySelector('meta[name="webgear-config"]') || document.getElementById('webgear');
  }

  function readConfig() {
    const el = configElement();
    if (!el) throw new Error('no player configuration: neither <meta name="webgear-config"> nor #webgear');
    const text = el.tagName === 'META' ? el.content : el.dataset.config;
    const cfg = JSON.parse(text || '{}');
    if (!cfg || typeof cfg.whepUrl !== 'string') throw new Error('invalid player configuration');
    return cfg;
  }

  // Read an error message from a non-2xx answer (plain text for WHEP; maybe a proxy's page).
  async function errorFromResponse(res) {
    let text = '';
    try {
      text = (await res.text()).trim();
    } catch (_) {
      /* keep the status */
    }
    const fromServer = text && text.length < 300 && !/^</.test(text) ? ': ' + text : '';
    return 'HTTP ' + res.status + fromServer;
  }

  function onTrack(e) {
    media.getTracks()
      .filter(function (t) { return t.kind === e.track.kind && t !== e.track; })
      .forEach(function (t) { media.removeTrack(t); });
    if (!media.getTracks().includes(e.track)) media.addTrack(e.track);
    if (e.track.kind === 'audio') {
      heardAudio = true;
      if (unmuteButton) unmuteButton.hidden = false;
    }
    if (typeof config.jitterBufferTarget === 'number' && 'jitterBufferTarget' in e.receiver) {
      e.receiver.jitterBufferTarget = config.jitterBufferTarget;
    }
    play();
  }

  // Sends the candidates gathered so far to the session (WHEP PATCH, RFC 8840 fragment).
  async function trickle(s) {
    if (!s.trickling || s.ended || (!s.candidates.length && !s.gatheringDone) || s.patching) return;
    const candidates = s.candidates.splice(0);
    const done = s.gatheringDone && !s.sentEnd;
    s.sentEnd = s.sentEnd || done;
    const local = s.pc.localDescription ? s.pc.localDescription.sdp : '';
    const ufrag = (/a=ice-ufrag:(.*)\r?\n/.exec(local) || [])[1];
    const pwd = (/a=ice-pwd:(.*)\r?\n/.exec(local) || [])[1];
    let body = 'a=ice-ufrag:' + ufrag + '\r\na=ice-pwd:' + pwd + '\r\n';
    const mids = {};
    candidates.forEach(function (c) {
      (mids[c.sdpMid] = mids[c.sdpMid] || []).push(c.candidate);
    });
    if (done && !candidates.length) mids[s.firstMid] = [];
    Object.keys(mids).forEach(function (mid) {
      body += 'm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:' + mid + '\r\n';
      mids[mid].forEach(function (c) { body += 'a=' + c + '\r\n'; });
      if (done) body += 'a=end-of-candidates\r\n';
    });
    s.patching = true;
    try {
      await fetch(s.resourceUrl, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': s.etag || '*' },
        body: body,
      });
    } catch (_) {
      /* the connection may come up without them; failure is handled by the state */
    } finally {
      s.patching = false;
    }
    if (s.candidates.length || (s.gatheringDone && !s.sentEnd)) trickle(s);
  }

  // Counts the session's NACKs (inbound-rtp nackCount) every SMOOTH_CHECK_MS; raises the video receiver's
  // jitterBufferTarget while repairs are frequent (SMOOTH_AFTER: how many, their share of the packets
  // received, how far apart), back to the browser's own once they are rare.
  function smoothRepairs(s) {
    if (s.smoothTimer || typeof config.jitterBufferTarget === 'number') return;
    const counts = []; // [ms, NACKs sent so far, packets received so far]
    let raised = false;
    const check = async function () {
      const receiver = s.pc.getReceivers().find(function (r) { return r.track && r.track.kind === 'video'; });
      if (!receiver || !('jitterBufferTarget' in receiver)) return;
      let nacks;
      let packets = 0;
      let rttMs = 0;
      try {
        (await s.pc.getStats()).forEach(function (stat) {
          if (stat.type === 'inbound-rtp' && stat.kind === 'video') {
            nacks = stat.nackCount;
            packets = stat.packetsReceived || 0;
          }
          if (stat.type === 'candidate-pair' && stat.nominated && stat.currentRoundTripTime) rttMs = 1000 * stat.currentRoundTripTime;
        });
      } catch (_) {
        return; // closed meanwhile
      }
      if (typeof nacks !== 'number' || s.ended) return;
      const now = performance.now();
      counts.push([now, nacks, packets]);
      while (now - counts[0][0] > SMOOTH_UNTIL.withinMs) counts.shift();
      const since = function (ms) {
        return counts.find(function (c) { return now - c[0] <= ms; });
      };
      const repairsWithin = function (ms) {
        return nacks - since(ms)[1];
      };
      const recent = since(SMOOTH_AFTER.withinMs);
      const repairs = nacks - recent[1];
      // The checks within the window at which the count had risen: the first and the last of them.
      const rises = counts.filter(function (c, i) { return i > 0 && c[0] > recent[0] && c[1] > counts[i - 1][1]; });
      const spread = rises.length > 1 ? rises[rises.length - 1][0] - rises[0][0] : 0;
      if (!raised && repairs >= SMOOTH_AFTER.repairs && repairs >= SMOOTH_AFTER.share * (packets - recent[2]) &&
          spread >= SMOOTH_AFTER.spreadMs) {
        raised = true;
        receiver.jitterBufferTarget = smoothingTargetMs(rttMs);
        log('lossy link (' + repairs + ' repairs in ' + (packets - recent[2]) + ' packets): jitter buffer target ' +
          receiver.jitterBufferTarget + ' ms');
      } else if (raised && now - counts[0][0] >= SMOOTH_UNTIL.withinMs - SMOOTH_CHECK_MS &&
          repairsWithin(SMOOTH_UNTIL.withinMs) <= SMOOTH_UNTIL.repairs) {
        raised = false;
        receiver.jitterBufferTarget = null;
        log('clean link again: the browser\'s own jitter buffer');
      }
    };
    check(); // the counts start now, at the connection
    s.smoothTimer = setInterval(check, SMOOTH_CHECK_MS);
  }

  function endSession(s) {
    if (!s || s.ended) return;
    s.ended = true;
    clearInterval(s.smoothTimer);
    clearTimeout(s.disconnectTimer);
    clearTimeout(s.stableTimer);
    clearTimeout(s.trickleTimer);
    s.pc.ontrack = s.pc.onicecandidate = s.pc.onconnectionstatechange = null;
    try {
      s.pc.close();
    } catch (_) {
      /* already closed */
    }
    if (s.resourceUrl) {
      // keepalive lets the request outlive the page; the server drops a silent viewer anyway.
      try {
        fetch(s.resourceUrl, { method: 'DELETE', keepalive: true }).catch(function () {});
      } catch (_) {
        /* nothing more to do while unloading */
      }
    }
  }

  function scheduleReconnect(reason, delayMs) {
    if (leaving) return;
    endSession(session);
    const delay = delayMs !== undefined ? delayMs : RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)];
    attempt++;
    showState(reason + ' – retrying in ' + Math.round(delay / 1000) + ' s', 'reconnecting');
    log(reason + '; reconnecting in ' + delay + ' ms');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function onConnectionState(s) {
    if (s !== session || s.ended) return;
    const state = s.pc.connectionState;
    clearTimeout(s.disconnectTimer);
    if (state === 'connected') {
      clearTimeout(s.trickleTimer);
      showState(STATE_TEXT.connected, 'connected');
      s.stableTimer = setTimeout(function () { attempt = 0; }, STABLE_AFTER_MS);
      smoothRepairs(s);
    } else if (state === 'disconnected') {
      showState(STATE_TEXT.disconnected, 'reconnecting');
      s.disconnectTimer = setTimeout(function () { scheduleReconnect('connection lost', 0); }, DISCONNECTED_GRACE_MS);
    } else if (state === 'failed') {
      clearTimeout(s.stableTimer);
      scheduleReconnect('connection failed');
    } else if (state === 'closed') {
      scheduleReconnect('connection closed');
    } else {
      showState(STATE_TEXT[state] || state, 'connecting');
    }
  }

  async function connect() {
    if (leaving) return;
    showState(STATE_TEXT.connecting, 'connecting');
    const pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
    const s = { pc: pc, resourceUrl: null, etag: null, candidates: [], gatheringDone: false, ended: false };
    session = s;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.ontrack = onTrack;
    pc.onconnectionstatechange = function () { onConnectionState(s); };
    pc.onicecandidate = function (e) {
      if (e.candidate && e.candidate.candidate) s.candidates.push(e.candidate);
      else s.gatheringDone = true;
      trickle(s);
    };

    let res;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      s.firstMid = pc.getTransceivers()[0].mid;
      res = await fetch(config.whepUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: pc.localDescription.sdp.replace(/^a=(candidate|end-of-candidates).*\r?\n/gm, ''),
      });
    } catch (err) {
      if (s === session) scheduleReconnect('server unreachable');
      return;
    }
    if (s !== session || s.ended) return;
    if (res.status !== 201) {
      const message = await errorFromResponse(res);
      const retryAfter = Number(res.headers.get('Retry-After'));
      // 5xx (full, source starting, server restarting) may pass; a 4xx will not.
      if (res.status >= 500) {
        scheduleReconnect(message, retryAfter > 0 ? retryAfter * 1000 : undefined);
      } else {
        endSession(s);
        showState(message, 'error');
        log(message);
      }
      return;
    }
    s.resourceUrl = new URL(res.headers.get('Location'), new URL(config.whepUrl, window.location.href)).href;
    s.etag = res.headers.get('ETag');
    const answer = await res.text();
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (err) {
      scheduleReconnect('unusable answer (' + (err && err.message) + ')');
      return;
    }
    s.trickleTimer = setTimeout(function () {
      s.trickling = true;
      trickle(s);
    }, TRICKLE_AFTER_MS);
  }

  function leave() {
    leaving = true;
    clearTimeout(retryTimer);
    endSession(session);
    showState(STATE_TEXT.closed, 'closed');
  }

  // pagehide is the reliable exit signal (also on mobile and bfcache).
  window.addEventListener('pagehide', leave);
  window.addEventListener('pageshow', function (e) {
    if (e.persisted && leaving) {
      leaving = false;
      connect();
    }
  });

  // Read-only handle for debugging and tests.
  window.webgear = {
    get pc() {
      return session ? session.pc : null;
    },
    get id() {
      return session && session.resourceUrl ? session.resourceUrl.split('/').pop() : null;
    },
    get state() {
      return session ? session.pc.connectionState : 'new';
    },
    get attempts() {
      return attempt;
    },
  };

  function start() {
    try {
      config = readConfig();
    } catch (err) {
      showState('configuration error: ' + (err && err.message ? err.message : err), 'error');
      return;
    }
    if (typeof window.RTCPeerConnection !== 'function') {
      showState('WebRTC is not supported by this browser', 'error');
      return;
    }
    connect().catch(function (err) {
      scheduleReconnect('error: ' + (err && err.message ? err.message : err));
    });
  }

  // Connect as soon as the configuration is there (the default page has it in <head>, before this script;
  // a theme's #webgear comes before the rest of its page), and show it all once the page is parsed.
  if (configElement()) start();
  else whenParsed(start);
  whenParsed(bindPage);
})();
