# The native SRTP sender (lib/native/*.c), built by node-gyp at install when no prebuild fits
# (node-gyp-build), loaded by lib/native/index.ts. OpenSSL's headers come with Node's, and its symbols
# from the Node binary when the addon loads: nothing else is linked.
{
  "targets": [
    {
      "target_name": "webgear_native",
      "conditions": [
        # The send path needs POSIX sockets: on Windows nothing is built and JavaScript sends.
        ["OS=='win'", {"type": "none"}, {
          "sources": ["lib/native/addon.c", "lib/native/fanout.c", "lib/native/gcm.c", "lib/native/handles.c", "lib/native/lane.c", "lib/native/send-thread.c", "lib/native/sender-report.c", "lib/native/srtcp-open.c", "lib/native/srtp.c", "lib/native/udp.c"],
          "defines": ["NAPI_VERSION=8"]
        }]
      ]
    }
  ]
}
