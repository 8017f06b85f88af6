// SPDX-License-Identifier: MIT
/*
 * A Node-API addon with one function, threadCpuNs(): the calling
 * thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), in ns, which Node 20 has
 * no call for (process.cpuUsage() is the whole process's, the pool's
 * threads too). The few Node-API declarations it needs are written out
 * here: that interface is ABI-stable across Node versions, and Debian's
 * nodejs ships no headers (libnode-dev does).
 */
#include <stddef.h>
#include <time.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;	/* an enum: 0 is napi_ok */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);

napi_status napi_create_double(napi_env env, double value, napi_value *result);
napi_status napi_create_function(napi_env env, const char *utf8name, size_t length,
				 napi_callback cb, void *data, napi_value *result);
napi_status napi_set_named_property(napi_env env, napi_value object, const char *utf8name,
				    napi_value value);

static napi_value thread_cpu_ns(napi_env env, napi_callback_info info)
{
	struct timespec t;
	napi_value v = NULL;

	(void)info;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0)
		napi_create_double(env, (double)t.tv_sec * 1e9 + (double)t.tv_nsec, &v);
	return v;
}

/* what Node calls on loading a Node-API addon (NAPI_MODULE_INIT) */
__attribute__((visibility("default")))
napi_value napi_register_module_v1(napi_env env, napi_value exports)
{
	napi_value fn;

	if (napi_create_function(env, "threadCpuNs", (size_t)-1, thread_cpu_ns, NULL, &fn) ||
	    napi_set_named_property(env, exports, "threadCpuNs", fn))
		return NULL;
	return exports;
}
