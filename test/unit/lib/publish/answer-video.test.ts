import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { videoRefusal } from '../../../../lib/publish/answer-video.ts';

const answer = (video: string[]) => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=VideoRoom 1234', 't=0 0', 'a=group:BUNDLE 0 1', ...video,
  'm=audio 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 127.0.0.1', 'a=recvonly', 'a=mid:1', 'a=rtpmap:96 opus/48000/2', ''].join('\r\n');

describe("videoRefusal: whether the endpoint's answer takes our video", () => {
  test("Janus's answer in a VP8 room to VP8: taken", () => {
    const taken = answer(['m=video 9 UDP/TLS/RTP/SAVPF 97', 'c=IN IP4 127.0.0.1', 'a=recvonly', 'a=mid:0', 'a=rtpmap:97 VP8/90000', 'a=rtcp-fb:97 transport-cc']);
    assert.equal(videoRefusal(taken, 'VP8'), undefined);
  });

  test("Janus's answer in a VP8 room to H.264 (as captured): inactive, no codec", () => {
    const janus = answer(['m=video 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 127.0.0.1', 'a=inactive', 'a=mid:0', 'a=rtcp-mux', 'a=ssrc:2754751506 cname:janus']);
    assert.equal(videoRefusal(janus, 'H264'), 'it answered the video inactive');
  });

  test('port 0 (RFC 3264), another codec, or no video section at all', () => {
    assert.equal(videoRefusal(answer(['m=video 0 UDP/TLS/RTP/SAVPF 97', 'a=mid:0', 'a=rtpmap:97 VP8/90000']), 'VP8'), 'it answered the video section with port 0');
    assert.equal(videoRefusal(answer(['m=video 9 UDP/TLS/RTP/SAVPF 98', 'a=recvonly', 'a=mid:0', 'a=rtpmap:98 VP9/90000']), 'VP8'), 'its answer has no VP8 (VP9)');
    assert.equal(videoRefusal(answer([]), 'VP8'), 'its answer has no video section');
  });
});
