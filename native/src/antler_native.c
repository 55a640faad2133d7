// antler_native: the few system calls Node does not expose. Optional: see index.ts.
#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include <node_api.h>

static napi_value Fadvise(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "fadvise(fd, offset, length, advice)");
    return NULL;
  }
  int32_t fd, advice;
  int64_t offset, length;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int64(env, argv[1], &offset);
  napi_get_value_int64(env, argv[2], &length);
  napi_get_value_int32(env, argv[3], &advice);
  int rc = posix_fadvise(fd, (off_t)offset, (off_t)length, advice);
  napi_value result;
  napi_create_int32(env, rc, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "fadvise", NAPI_AUTO_LENGTH, Fadvise, NULL, &fn);
  napi_set_named_property(env, exports, "fadvise", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
