/*
 * WebGear_RTC publish page (source: 'whip'): sends a camera or a screen to the server over WHIP (RFC 9725).
 *
 * Plain browser JS (ES2020, no modules, no dependencies), configured from the data-config attribute, so it
 * runs under a strict CSP (`script-src 'self'`).
 *
 *   POST config.whipUrl  (application/sdp offer, Authorization: Bearer <token>)  -> 201 answer, Location
 *   PATCH <Location>     (application/trickle-ice-sdpfrag: our candidates, if not connected soon)
 *   DELETE <Location>    (Stop, or leaving the page)
 *
 * With "Simulcast", the video goes out as three encodings (full, half and quarter size): the server makes
 * them its ladder and every viewer gets the one its own link carries. A lost connection is published
 * again with backoff; another publisher replaces this one on the server (and this one, when it comes back,
 * replaces it in turn).
 */
(function () {
  'use strict';

  const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
  const STABLE_AFTER_MS = 10000;
  const DISCONNECTED_GRACE_MS = 4000;
  const TRICKLE_AFTER_MS = 700;
  // Top first; the server orders layers by their picture size anyway.
  const SIMULCAST = [
    { rid: 'h', scaleResolutionDownBy: 1 },
    { rid: 'm', scaleResolutionDownBy: 2 },
    { rid: 'l', scaleResolutionDownBy: 4 },
  ];

  let config = null;
  let el = {};
  let media = null; // the MediaStream being sent
  let session = null; // { pc, resourceUrl, etag, candidates, ended, ... }
  let attempt = 0;
  let retryTimer = null;
  let publishing = false;

  function showState(text, state) {
    el.status.textContent = text;
    el.status.dataset.state = state;
  }

  function log(message) {
    if (window.console) console.info('[webgear publish] ' + message);
  }

  function authHeaders(headers) {
    const token = el.token && el.token.value;
    if (token) headers.Authorization = 'Bearer ' + token;
    return headers;
  }

  async function errorFromResponse(res) {
    let text = '';
    try {
      text = (await res.text()).trim();
    } catch (_) {
      /* keep the status */
    }
    return 'HTTP ' + res.status + (text && text.length < 300 && !/^</.test(text) ? ': ' + text : '');
  }

  async function getMedia() {
    const audio = el.audio.checked;
    if (el.source.value === 'screen') {
      return navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 30 } }, audio: audio });
    }
    const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
    if (el.camera.value) video.deviceId = { exact: el.camera.value };
    return navigator.mediaDevices.getUserMedia({ video: video, audio: audio });
  }

  // Camera names are only listed once the page may use a camera.
  async function listCameras() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const chosen = el.camera.value;
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter(function (d) { return d.kind === 'videoinput'; });
    el.camera.textContent = '';
    el.camera.appendChild(new Option('default', ''));
    cameras.forEach(function (d, i) {
      el.camera.appendChild(new Option(d.label || 'camera ' + (i + 1), d.deviceId, false, d.deviceId === chosen));
    });
  }

  // The server takes one codec (its `codec` option): offered first, so the browser encodes that.
  function preferCodec(transceiver) {
    const want = config.codec === 'h264' ? 'video/h264' : 'video/vp8';
    if (!transceiver.setCodecPreferences || !window.RTCRtpSender || !RTCRtpSender.getCapabilities) return;
    const codecs = RTCRtpSender.getCapabilities('video').codecs;
    const first = codecs.filter(function (c) { return c.mimeType.toLowerCase() === want; });
    if (first.length) transceiver.setCodecPreferences(first.concat(codecs.filter(function (c) { return c.mimeType.toLowerCase() !== want; })));
  }

  function addVideo(pc, track) {
    if (el.simulcast.checked) {
      try {
        return pc.addTransceiver(track, { direction: 'sendonly', streams: [media], sendEncodings: SIMULCAST });
      } catch (err) {
        log('no simulcast here (' + (err && err.message) + '): one encoding');
      }
    }
    return pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
  }

  // Our candidates, by PATCH (RFC 8840 fragment), when the connection is not up soon after the answer.
  async function trickle(s) {
    if (!s.trickling || s.ended || !s.resourceUrl || s.patching || (!s.candidates.length && !(s.gatheringDone && !s.sentEnd))) return;
    const candidates = s.candidates.splice(0);
    const done = s.gatheringDone && !s.sentEnd;
    s.sentEnd = s.sentEnd || done;
    const local = s.pc.localDescription ? s.pc.localDescription.sdp : '';
    let body = 'a=ice-ufrag:' + (/a=ice-ufrag:(.*)\r?\n/.exec(local) || [])[1] + '\r\na=ice-pwd:' + (/a=ice-pwd:(.*)\r?\n/.exec(local) || [])[1] + '\r\n';
    body += 'm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:' + s.firstMid + '\r\n';
    candidates.forEach(function (c) { body += 'a=' + c.candidate + '\r\n'; });
    if (done) body += 'a=end-of-candidates\r\n';
    s.patching = true;
    try {
      await fetch(s.resourceUrl, {
        method: 'PATCH',
        headers: authHeaders({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': s.etag || '*' }),
        body: body,
      });
    } catch (_) {
      /* the connection may come up without them */
    } finally {
      s.patching = false;
    }
    trickle(s);
  }

  function endSession(s) {
    if (!s || s.ended) return;
    s.ended = true;
    clearTimeout(s.disconnectTimer);
    clearTimeout(s.stableTimer);
    clearTimeout(s.trickleTimer);
    s.pc.onicecandidate = s.pc.onconnectionstatechange = null;
    try {
      s.pc.close();
    } catch (_) {
      /* already closed */
    }
    if (s.resourceUrl) {
      try {
        fetch(s.resourceUrl, { method: 'DELETE', headers: authHeaders({}), keepalive: true }).catch(function () {});
      } catch (_) {
        /* leaving the page */
      }
    }
  }

  function scheduleRetry(reason, delayMs) {
    endSession(session);
    if (!publishing) return;
    const delay = delayMs !== undefined ? delayMs : RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)];
    attempt++;
    showState(reason + ' – publishing again in ' + Math.round(delay / 1000) + ' s', 'reconnecting');
    log(reason + '; again in ' + delay + ' ms');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function onConnectionState(s) {
    if (s !== session || s.ended) return;
    const state = s.pc.connectionState;
    clearTimeout(s.disconnectTimer);
    if (state === 'connected') {
      clearTimeout(s.trickleTimer);
      showState('live', 'connected');
      s.stableTimer = setTimeout(function () { attempt = 0; }, STABLE_AFTER_MS);
    } else if (state === 'disconnected') {
      showState('reconnecting…', 'reconnecting');
      s.disconnectTimer = setTimeout(function () { scheduleRetry('connection lost', 0); }, DISCONNECTED_GRACE_MS);
    } else if (state === 'failed' || state === 'closed') {
      clearTimeout(s.stableTimer);
      scheduleRetry('connection ' + state);
    }
  }

  async function connect() {
    if (!publishing || !media) return;
    showState('connecting…', 'connecting');
    const pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
    const s = { pc: pc, resourceUrl: null, etag: null, candidates: [], gatheringDone: false, ended: false };
    session = s;
    media.getVideoTracks().forEach(function (track) { preferCodec(addVideo(pc, track)); });
    media.getAudioTracks().forEach(function (track) { pc.addTransceiver(track, { direction: 'sendonly', streams: [media] }); });
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
      res = await fetch(config.whipUrl, {
        method: 'POST',
        headers: authHeaders({ 'Content-Type': 'application/sdp' }),
        // Without our candidates: the server's are in its answer, its replies to our checks are enough.
        body: pc.localDescription.sdp.replace(/^a=(candidate|end-of-candidates).*\r?\n/gm, ''),
      });
    } catch (err) {
      if (s === session) scheduleRetry('server unreachable');
      return;
    }
    if (s !== session || s.ended) return;
    if (res.status !== 201) {
      const message = await errorFromResponse(res);
      if (res.status >= 500) {
        const retryAfter = Number(res.headers.get('Retry-After'));
        scheduleRetry(message, retryAfter > 0 ? retryAfter * 1000 : undefined);
      } else {
        // A wrong token or codec will not fix itself.
        stop();
        showState(message, 'error');
        log(message);
      }
      return;
    }
    s.resourceUrl = new URL(res.headers.get('Location'), new URL(config.whipUrl, window.location.href)).href;
    s.etag = res.headers.get('ETag');
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    } catch (err) {
      scheduleRetry('unusable answer (' + (err && err.message) + ')');
      return;
    }
    s.trickleTimer = setTimeout(function () {
      s.trickling = true;
      trickle(s);
    }, TRICKLE_AFTER_MS);
  }

  async function start() {
    if (publishing) return;
    publishing = true;
    attempt = 0;
    el.start.disabled = true;
    el.stop.disabled = false;
    showState('starting the ' + el.source.value + '…', 'connecting');
    try {
      media = await getMedia();
    } catch (err) {
      stop();
      showState('no ' + el.source.value + ': ' + (err && (err.message || err.name)), 'error');
      return;
    }
    el.preview.srcObject = media;
    media.getTracks().forEach(function (track) {
      track.addEventListener('ended', function () {
        // The user stopped sharing (the browser's own button), or the camera went away.
        if (track.kind === 'video') stop();
      });
    });
    listCameras().catch(function () {});
    connect().catch(function (err) { scheduleRetry('error: ' + (err && err.message ? err.message : err)); });
  }

  function stop() {
    publishing = false;
    clearTimeout(retryTimer);
    endSession(session);
    session = null;
    if (media) media.getTracks().forEach(function (track) { track.stop(); });
    media = null;
    el.preview.srcObject = null;
    el.start.disabled = false;
    el.stop.disabled = true;
    showState('not publishing', 'closed');
  }

  // Read-only handle for debugging and tests.
  window.webgearPublish = {
    get pc() { return session ? session.pc : null; },
    get id() { return session && session.resourceUrl ? session.resourceUrl.split('/').pop() : null; },
    get state() { return session ? session.pc.connectionState : 'closed'; },
    get attempts() { return attempt; },
    get publishing() { return publishing; },
  };

  function init() {
    const root = document.getElementById('webgear-publish');
    ['preview', 'source', 'camera', 'camera-choice', 'audio', 'simulcast', 'token-field', 'token', 'start', 'stop', 'status', 'publish-form']
      .forEach(function (id) { el[id.replace(/-([a-z])/g, function (_, c) { return c.toUpperCase(); })] = document.getElementById(id); });
    try {
      config = JSON.parse(root.dataset.config || '{}');
      if (typeof config.whipUrl !== 'string') throw new Error('no whipUrl');
    } catch (err) {
      showState('configuration error: ' + (err && err.message), 'error');
      return;
    }
    if (typeof window.RTCPeerConnection !== 'function' || !navigator.mediaDevices) {
      showState('this browser cannot publish (no WebRTC or no camera access: the page needs https or localhost)', 'error');
      el.start.disabled = true;
      return;
    }
    el.tokenField.hidden = !config.tokenRequired;
    el.source.addEventListener('change', function () { el.cameraChoice.hidden = el.source.value !== 'camera'; });
    el.publishForm.addEventListener('submit', function (e) {
      e.preventDefault();
      start();
    });
    el.stop.addEventListener('click', stop);
    window.addEventListener('pagehide', function () {
      publishing = false;
      endSession(session);
    });
    listCameras().catch(function () {});
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init, { once: true });
  else init();
})();
