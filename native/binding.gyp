{
  "targets": [
    {
      "target_name": "antler_native",
      "sources": ["src/antler_native.c"]
    }
  ]
}
