{
  "targets": [
    {
      "target_name": "tftpfast",
      "sources": ["tftpfast.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-std=gnu11"],
      "libraries": ["-lpthread", "-lm"]
    }
  ]
}
