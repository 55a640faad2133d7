// antler_native: the few system calls Node does not expose. Optional: see index.ts.
#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

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

static napi_value Int32(napi_env env, int32_t v) {
  napi_value result;
  napi_create_int32(env, v, &result);
  return result;
}

// posix_fadvise in the libuv thread pool: POSIX_FADV_DONTNEED starts the writeback of dirty
// pages and drops the clean ones, which may wait for the disk's queue; the event loop must not.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int32_t fd, advice, rc;
  int64_t offset, length;
} FadviseJob;

static void FadviseRun(napi_env env, void *data) {
  (void)env;
  FadviseJob *job = data;
  job->rc = posix_fadvise(job->fd, (off_t)job->offset, (off_t)job->length, job->advice);
}

static void FadviseDone(napi_env env, napi_status status, void *data) {
  FadviseJob *job = data;
  int32_t rc = status == napi_ok ? job->rc : ECANCELED;
  napi_resolve_deferred(env, job->deferred, Int32(env, rc));
  napi_delete_async_work(env, job->work);
  free(job);
}

// fadviseAsync(fd, offset, length, advice): a promise of posix_fadvise's result (0 or errno).
static napi_value FadviseAsync(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, advice;
  int64_t offset, length;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok ||
      napi_get_value_int32(env, argv[3], &advice) != napi_ok || offset < 0 || length < 0) {
    napi_throw_type_error(env, NULL, "fadviseAsync(fd, offset >= 0, length >= 0, advice)");
    return NULL;
  }
  FadviseJob *job = calloc(1, sizeof(FadviseJob));
  if (job == NULL) {
    napi_throw_error(env, NULL, "fadviseAsync: out of memory");
    return NULL;
  }
  job->fd = fd;
  job->advice = advice;
  job->offset = offset;
  job->length = length;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "antler.fadvise", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, FadviseRun, FadviseDone, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

// A connected AF_UNIX stream pair, both ends close-on-exec (a child gets its end through
// dup2, which clears the flag; no other child can hold it and keep the peer from seeing EOF).
static napi_value Socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value pair;
  napi_create_array_with_length(env, 2, &pair);
  napi_set_element(env, pair, 0, Int32(env, fds[0]));
  napi_set_element(env, pair, 1, Int32(env, fds[1]));
  return pair;
}

// Blocks until one message comes on the socket `fd` and returns the descriptor it carries
// (SCM_RIGHTS, received close-on-exec), or -errno: -ECONNRESET if the peer closed without one.
static napi_value RecvFd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t sock;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &sock) != napi_ok) {
    napi_throw_type_error(env, NULL, "recvFd(fd)");
    return NULL;
  }
  char byte;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Int32(env, -errno);
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (n == 0 || cmsg == NULL || cmsg->cmsg_level != SOL_SOCKET ||
      cmsg->cmsg_type != SCM_RIGHTS || cmsg->cmsg_len != CMSG_LEN(sizeof(int))) {
    return Int32(env, -ECONNRESET);
  }
  int received;
  memcpy(&received, CMSG_DATA(cmsg), sizeof received);
  return Int32(env, received);
}

// Arguments (fd, uint8array, offset, length) of the reads: false when one is of the wrong
// type; otherwise *start is where the range begins, or NULL when it lies outside the buffer.
static bool BufferRange(napi_env env, const napi_value *argv, int32_t *fd, char **start,
                        int64_t *length) {
  int64_t offset;
  napi_typedarray_type type;
  size_t elements, byte_offset;
  void *data;
  napi_value arraybuffer;
  if (napi_get_value_int32(env, argv[0], fd) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &elements, &data, &arraybuffer,
                               &byte_offset) != napi_ok || type != napi_uint8_array ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[3], length) != napi_ok) {
    return false;
  }
  bool inside = offset >= 0 && *length >= 0 && *length <= INT32_MAX &&
      (uint64_t)offset <= elements && (uint64_t)*length <= elements - (uint64_t)offset;
  *start = inside ? (char *)data + offset : NULL;
  return true;
}

// A type error, unless one is already pending (a failed napi call may have thrown).
static void ThrowUsage(napi_env env, const char *usage) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
    napi_throw_type_error(env, NULL, usage);
  }
}

// preadv2 with RWF_NOWAIT: copies what the page cache holds at `position` without waiting for
// the disk. Returns the bytes read (fewer than asked when only part is cached, 0 at end of
// file) or -EAGAIN when the first page is not cached. EOPNOTSUPP and ENOSYS (a file system or
// kernel without the flag) also give -EAGAIN: the caller's async read is right for them too.
// Any other failure is -errno, so the caller reports it as the read's error.
static napi_value PreadNoWait(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  char *start;
  int64_t length, position;
  if (argc < 5 || !BufferRange(env, argv, &fd, &start, &length) ||
      napi_get_value_int64(env, argv[4], &position) != napi_ok) {
    ThrowUsage(env, "preadNoWait(fd, uint8array, offset, length, position)");
    return NULL;
  }
  if (start == NULL || position < 0) {
    napi_throw_range_error(env, NULL, "preadNoWait: range outside the buffer");
    return NULL;
  }
  struct iovec iov = { .iov_base = start, .iov_len = (size_t)length };
  ssize_t n;
  do {
    n = preadv2(fd, &iov, 1, (off_t)position, RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return Int32(env, (int32_t)n);
  if (errno == EAGAIN || errno == EOPNOTSUPP || errno == ENOSYS) return Int32(env, -EAGAIN);
  return Int32(env, -errno);
}

// read(2) into buffer[offset..offset+length): the bytes read or -errno, never a throw, so a
// non-blocking descriptor's EAGAIN costs no exception. For devices (/dev/fuse), where one read
// is one message.
static napi_value ReadNoThrow(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  char *start;
  int64_t length;
  if (argc < 4 || !BufferRange(env, argv, &fd, &start, &length)) {
    ThrowUsage(env, "readNoThrow(fd, uint8array, offset, length)");
    return NULL;
  }
  if (start == NULL) {
    napi_throw_range_error(env, NULL, "readNoThrow: range outside the buffer");
    return NULL;
  }
  ssize_t n = read(fd, start, (size_t)length);
  return Int32(env, n >= 0 ? (int32_t)n : -errno);
}

// setNonBlocking(fd, on): sets or clears O_NONBLOCK; 0 or -errno.
static napi_value SetNonBlocking(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  bool on;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "setNonBlocking(fd, on)");
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Int32(env, -errno);
  flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  if (fcntl(fd, F_SETFL, flags) != 0) return Int32(env, -errno);
  return Int32(env, 0);
}

// A descriptor watched on the event loop (uv_poll): the callback runs on the main thread each
// turn of the loop while the descriptor is readable, so a device can be read there without a
// thread of its own. Freed once both closed (unwatched) and its JS handle collected, so an
// unwatch() through a stale handle still finds it.
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int active, closed, finalized;
} Watch;

static void WatchClosed(uv_handle_t *handle) {
  Watch *w = handle->data;
  w->closed = 1;
  if (w->finalized) free(w);
}

// Calls back with the poll's status: 0 when readable, a negative libuv error when the poll
// ended (POLLERR: the descriptor is not usable; libuv has stopped the poll).
static void WatchEvent(uv_poll_t *poll, int status, int events) {
  (void)events;
  Watch *w = poll->data;
  if (!w->active) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, arg, result;
  napi_get_reference_value(env, w->callback, &fn);
  napi_get_global(env, &recv); // a receiver that is an object, as napi_make_callback needs
  napi_create_int32(env, status, &arg);
  bool pending = false;
  if (napi_make_callback(env, w->context, recv, fn, 1, &arg, &result) != napi_ok &&
      napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void WatchFinalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Watch *w = data;
  w->finalized = 1;
  if (w->closed) free(w);
}

// watchReadable(fd, callback(status)): an external to pass to unwatch().
static napi_value WatchReadable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_valuetype kind;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_typeof(env, argv[1], &kind) != napi_ok || kind != napi_function) {
    napi_throw_type_error(env, NULL, "watchReadable(fd, callback)");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "watchReadable: no event loop");
    return NULL;
  }
  Watch *w = calloc(1, sizeof(Watch));
  if (w == NULL) {
    napi_throw_error(env, NULL, "watchReadable: out of memory");
    return NULL;
  }
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    free(w);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  w->poll.data = w;
  w->env = env;
  napi_value name, resource;
  napi_create_string_utf8(env, "antler.watch", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_async_init(env, resource, name, &w->context);
  rc = uv_poll_start(&w->poll, UV_READABLE, WatchEvent);
  if (rc != 0) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->context);
    w->finalized = 1; // no JS handle was made
    uv_close((uv_handle_t *)&w->poll, WatchClosed);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  w->active = 1;
  napi_value handle;
  napi_create_external(env, w, WatchFinalize, NULL, &handle);
  return handle;
}

// unwatch(handle): stops the watch for good; true the first time, false after.
static napi_value Unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  napi_valuetype kind;
  if (argc < 1 || napi_typeof(env, argv[0], &kind) != napi_ok || kind != napi_external ||
      napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "unwatch(handle from watchReadable)");
    return NULL;
  }
  Watch *w = data;
  napi_value done;
  if (!w->active) {
    napi_get_boolean(env, false, &done);
    return done;
  }
  w->active = 0;
  uv_poll_stop(&w->poll);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->context);
  uv_close((uv_handle_t *)&w->poll, WatchClosed);
  napi_get_boolean(env, true, &done);
  return done;
}

static void Export(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static napi_value Init(napi_env env, napi_value exports) {
  Export(env, exports, "fadvise", Fadvise);
  Export(env, exports, "fadviseAsync", FadviseAsync);
  Export(env, exports, "socketpair", Socketpair);
  Export(env, exports, "recvFd", RecvFd);
  Export(env, exports, "preadNoWait", PreadNoWait);
  Export(env, exports, "readNoThrow", ReadNoThrow);
  Export(env, exports, "setNonBlocking", SetNonBlocking);
  Export(env, exports, "watchReadable", WatchReadable);
  Export(env, exports, "unwatch", Unwatch);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
