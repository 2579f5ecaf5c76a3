{
  "targets": [
    {
      "target_name": "bindsock",
      "sources": ["bindsock.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
