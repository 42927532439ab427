/*
 * cuepy.h: the C ABI of libcuepy, the one source of truth.
 *
 * The Go side includes this header (so cgo checks every export against it)
 * and build_cue.py hands the block between the cdef markers to cffi.
 *
 * Conventions
 *  - Every object the library hands out is a cue_handle (a runtime/cgo
 *    handle). 0 is never a valid handle. Each handle has one owner, who
 *    releases it with cue_handle_free exactly once.
 *  - Functions that can fail return a cue_handle naming an error object,
 *    or 0 on success. The caller takes the error with cue_error_take,
 *    which also frees it.
 *  - Strings and arrays returned through out-parameters are allocated with
 *    C malloc; the caller releases each with cue_free exactly once.
 *  - No Go panic crosses this boundary: every export recovers and reports
 *    an error of category "internal".
 *  - Any thread may call any function. A call that evaluates holds the
 *    contexts its values come from, so calls on values of one context run
 *    one at a time (CUE v0.17 races otherwise); a call waiting for one
 *    still stops at its thread's deadline or interrupt.
 */
#ifndef CUEPY_H
#define CUEPY_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
#define CUEPY_ABI_VERSION 5

typedef uint64_t cue_handle;

/* Bytes allocated by the library (NUL-terminated); free data with cue_free.
 * flags carries a per-function detail (cue_decode: a CUE_DECODED_ value). */
typedef struct {
    char *data;
    size_t len;
    uint32_t flags;
} cue_bytes;

/* An array of new handles allocated by the library; free items with
 * cue_free and each handle with cue_handle_free. */
typedef struct {
    cue_handle *items;
    size_t len;
} cue_handles;

/* Value kinds: a bit set (our own numbering, not CUE's). */
#define CUE_KIND_NULL 1
#define CUE_KIND_BOOL 2
#define CUE_KIND_INT 4
#define CUE_KIND_FLOAT 8
#define CUE_KIND_STRING 16
#define CUE_KIND_BYTES 32
#define CUE_KIND_STRUCT 64
#define CUE_KIND_LIST 128

/* Options shared by fields, export and validate. */
#define CUE_OPT_DEFINITIONS 1
#define CUE_OPT_HIDDEN 2
#define CUE_OPT_OPTIONAL 4
#define CUE_OPT_CONCRETE 8
#define CUE_OPT_FINAL 16
#define CUE_OPT_DOCS 32
#define CUE_OPT_ATTRIBUTES 64
#define CUE_OPT_ALL_ERRORS 128
#define CUE_OPT_INDENT 256
/* With CUE_OPT_INDENT, bits 16-23 of opts: the indent width in spaces
 * (0: 2 for JSON, tabs for CUE). */
#define CUE_OPT_INDENT_SHIFT 16

/* Export formats. */
#define CUE_FORMAT_JSON 0
#define CUE_FORMAT_YAML 1
#define CUE_FORMAT_CUE 2

/* cue_decode's out.flags: how to read out.data. Scalars skip JSON. */
#define CUE_DECODED_JSON 0        /* JSON */
#define CUE_DECODED_JSON_BYTES 1  /* JSON with {"\u0000bytes": base64} objects for bytes; a struct's
                                     own field "\u0000bytes" is written twice (read the pairs) */
#define CUE_DECODED_STRING 2      /* one string, raw UTF-8 */
#define CUE_DECODED_INT 3         /* one integer, in decimal */
#define CUE_DECODED_BYTES 4       /* one bytes value, raw */

/* Counters of the Go runtime, read without stopping the world. */
typedef struct {
    uint64_t alloc_bytes;    /* cumulative bytes allocated on the heap */
    uint64_t alloc_objects;  /* cumulative heap objects allocated */
    uint64_t heap_bytes;     /* bytes in live and not yet swept objects */
    uint64_t heap_objects;   /* objects live and not yet swept */
    uint64_t total_bytes;    /* all memory mapped by the Go runtime */
    uint64_t gc_cycles;      /* completed GC cycles */
    int64_t gc_percent;      /* the GC target (GOGC); -1: the collector is off */
} cue_memstats;

/* Evaluator counters (CUE's stats.Counts), cumulative for the process.
 * CUE adds an evaluation's counts when it builds a value (as `cue --stats`
 * reports them); evaluation done lazily afterwards is not counted. */
typedef struct {
    int64_t unifications;   /* nodes unified */
    int64_t disjuncts;      /* disjuncts processed */
    int64_t conjuncts;      /* conjuncts processed */
    int64_t notifications;  /* notifications sent between nodes */
    int64_t allocs;         /* evaluator buffers allocated */
    int64_t reused;         /* evaluator buffers reused */
    int64_t freed;          /* evaluator buffers returned */
    int64_t retained;       /* evaluator buffers retained */
} cue_eval_stats;

/* Library identity and memory. */
int32_t cue_abi_version(void);
char *cue_version(void);
void cue_free(void *ptr);
cue_handle cue_handle_free(cue_handle h);
int64_t cue_live_handles(void);
void cue_read_memstats(cue_memstats *out);
void cue_gc(void);
/* Go's GC target (GOGC): set it to percent (< 0: off) and return the previous one. */
int32_t cue_set_gc_percent(int32_t percent);
/* Go's soft memory limit (GOMEMLIMIT) in bytes: set it (< 0: leave it) and return the previous one. */
int64_t cue_set_memory_limit(int64_t limit);
void cue_read_eval_stats(cue_eval_stats *out);

/* Stopping evaluations, through the hooks go/cmd/cuepatch adds to CUE's evaluator. A
 * stopped call fails with category "limit" and "limit" naming why: "time" (a deadline),
 * "interrupt" or "depth" (the unify nesting bound); its context is tainted: handles of
 * it are refused from then on (its values may be partly evaluated). Threads are OS
 * thread ids (gettid). */
/* The bound on the evaluator's unify nesting (0: none); returns the previous one. */
int64_t cue_set_max_depth(int64_t n);
/* Stop the evaluations of thread tid once nanoseconds have passed (<= 0: at once),
 * replacing its previous deadline (passed or not). */
void cue_stop_after(int64_t tid, int64_t nanoseconds);
/* Withdraw thread tid's deadline, passed or not. */
void cue_stop_deadline_clear(int64_t tid);
/* Stop the evaluations of thread tid at their next step, until withdrawn. */
void cue_stop_interrupt(int64_t tid);
/* Withdraw an interrupt of thread tid. */
void cue_stop_interrupt_clear(int64_t tid);
/* Make the calling thread follow the stops of thread parent (0: none). */
void cue_stop_follow(int64_t parent);

/* Errors: JSON {"category", "text", "errors": [{"message", "path", "positions"}]}
 * and, for category "limit", "limit". */
void cue_error_take(cue_handle err, cue_bytes *out);

/* Contexts and building values. */
cue_handle cue_context_new(cue_handle *out);
/* A usage error unless ctx is a live context handle (cuepy.Context(n) checks with it). */
cue_handle cue_context_check(cue_handle ctx);
cue_handle cue_compile(cue_handle ctx, char *src, size_t len, char *filename, cue_handle *out);
cue_handle cue_load(cue_handle ctx, char *config_json, size_t len, cue_handle *out);
/* `cue vet` of what cue_load's configuration names (go/internal/loader/data.go): concrete < 0
 * for vet's default, 0 for -c=false, 1 for -c. Each data document is checked on its own. */
cue_handle cue_vet(cue_handle ctx, char *config_json, size_t len, int32_t concrete);
/* What a cue_load of the same configuration reads from disk, as JSON
 * {"root", "files", "dirs"}: the main module's root; the files of the
 * instance and its imports from the main module and from directory-served
 * modules, @embed-ed files and cue.mod/module.cue; the directories whose
 * listing decides what is read (go/internal/loader/inputs.go). */
cue_handle cue_load_inputs(char *config_json, size_t len, cue_bytes *out);

/* Combining values. */
cue_handle cue_unify(cue_handle *values, size_t n, cue_handle *out);
cue_handle cue_fill(cue_handle v, char *path, cue_handle x, cue_handle *out);

/* Reading values. */
cue_handle cue_lookup(cue_handle v, char *path, cue_handle *out); /* *out = 0: no such field */
cue_handle cue_fields(cue_handle v, uint32_t opts, cue_bytes *labels_json, cue_handles *values);
cue_handle cue_elements(cue_handle v, cue_handles *values);
cue_handle cue_kind(cue_handle v, uint32_t *kind, uint32_t *incomplete_kind, int32_t *concrete);
cue_handle cue_default(cue_handle v, cue_handle *out, int32_t *has_default);
cue_handle cue_decode(cue_handle v, cue_bytes *out);
cue_handle cue_export(cue_handle v, int32_t format, uint32_t opts, cue_bytes *out);
cue_handle cue_validate(cue_handle v, uint32_t opts);
cue_handle cue_source(cue_handle v, cue_bytes *out);
/* The value of the CUE expression expr (len bytes) in v's scope, as `cue export -e EXPR`;
 * errors in the expression are placed in a file named filename. */
cue_handle cue_evaluate(cue_handle v, char *expr, size_t len, char *filename, cue_handle *out);
cue_handle cue_value_context(cue_handle v, cue_handle *out); /* a new handle to the value's context */
/* *id: the identity of the CUE context of h (a value or a context handle);
 * equal ids, one context. */
cue_handle cue_context_id(cue_handle h, uint64_t *id);
/* *equal = 1: both concrete and Equals, or else each subsumes the other. */
cue_handle cue_equal(cue_handle a, cue_handle b, int32_t *equal);
/* *subsumes = 1: a subsumes b (every instance of b is an instance of a). */
cue_handle cue_subsumes(cue_handle a, cue_handle b, int32_t *subsumes);

/* The blueprint flattener (go/internal/flatten): config_json is cue_load's
 * configuration plus "verify"; *out: JSON {"files": [{name, source, changed,
 * lines}], "components": [{path, file, line, column, flattened, inlined,
 * reason}], "verified", "inputs": cue_load_inputs's listing of what the load
 * read}; *value: the rewritten package as verification evaluated it (0
 * without verification). */
cue_handle cue_flatten(char *config_json, size_t len, cue_bytes *out, cue_handle *value);

/* Module registries: serve one in memory on loopback, publish a module to one. */
cue_handle cue_registry_serve(char *addr, cue_handle *out, char **host);
cue_handle cue_registry_publish(char *registry, char *module_dir, char *version);
/* cue_registry_serve with a JSON configuration {"address", "token", "max_bytes"}: a loopback
 * address only; with a token, writes need it (HTTP Bearer, or Basic with it as the password);
 * pushes may send max_bytes in all (0: 256 MiB); a published version is never replaced. */
cue_handle cue_registry_serve_with(char *config_json, size_t len, cue_handle *out, char **host);
/* cue_registry_publish with a JSON configuration {"registry", "dir", "version", "token"}. */
cue_handle cue_registry_push(char *config_json, size_t len);

/* cdef-end */

#endif
