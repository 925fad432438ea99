{
  # The native load generator (bench only: not part of the package's build). Linux: epoll, recvmmsg.
  # OpenSSL and zlib are not linked: their symbols resolve at load time from the Node binary, which
  # exports them to addons (node-gyp puts Node's copies of their headers on the include path).
  "targets": [
    {
      "target_name": "loadgen",
      "sources": [
        "src/addon.c",
        "src/engine.c",
        "src/ice.c",
        "src/stun.c",
        "src/dtls.c",
        "src/srtp.c",
        "src/media.c"
      ],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["src/addon.c"], "type": "none" }]
      ]
    }
  ]
}
