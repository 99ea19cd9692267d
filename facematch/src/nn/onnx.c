/* onnx.c — strict ONNX protobuf reader, graph compiler (shape inference, constant folding, fusion) and executor.
 * See onnx.h. Protobuf field numbers are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto). */
#include "nn/onnx.h"

#include "internal.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DT_FLOAT 1
#define DT_INT32 6
#define DT_INT64 7

/* ============================================================================================================ */
/* Protobuf wire format                                                                                          */
/* ============================================================================================================ */

typedef struct pb {
    const uint8_t *p, *end;
    int depth;
} pb;

typedef struct pbf {
    uint32_t field;
    int wt;
    uint64_t v;          /* varint / fixed value */
    const uint8_t *data; /* length-delimited payload */
    size_t len;
} pbf;

static int pb_varint(pb *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e))
            return -1; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads the next field; returns 1 on a field, 0 at the end of the message, -1 on malformed data. */
static int pb_next(pb *r, pbf *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (pb_varint(r, &key))
        return -1;
    f->field = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    if (f->field == 0 || (key >> 3) > 0x1fffffff)
        return -1;
    switch (f->wt) {
    case 0:
        return pb_varint(r, &f->v) ? -1 : 1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        memcpy(&f->v, r->p, 8);
        r->p += 8;
        return 1;
    case 5: {
        if (r->end - r->p < 4)
            return -1;
        uint32_t x;
        memcpy(&x, r->p, 4);
        f->v = x;
        r->p += 4;
        return 1;
    }
    case 2: {
        uint64_t len;
        if (pb_varint(r, &len) || len > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return -1; /* groups (3, 4) and reserved types are not used by ONNX */
    }
}

static int pb_sub(const pb *parent, const pbf *f, pb *child)
{
    if (f->wt != 2 || parent->depth + 1 > ONNX_MAX_DEPTH)
        return -1;
    child->p = f->data;
    child->end = f->data + f->len;
    child->depth = parent->depth + 1;
    return 0;
}

static float f32_of(uint64_t v)
{
    uint32_t x = (uint32_t)v;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ============================================================================================================ */
/* Parsed model                                                                                                  */
/* ============================================================================================================ */

typedef struct tensor {
    int dtype; /* DT_FLOAT or DT_INT64 (int32 is widened) */
    int rank;
    int64_t dims[NN_MAX_RANK];
    size_t n;
    void *data; /* owned: float* or int64_t* */
} tensor;

typedef struct attr {
    char *name;
    int type; /* AttributeProto.AttributeType */
    float f;
    int64_t i;
    char *s;
    float *floats;
    int nfloats;
    int64_t *ints;
    int nints;
    tensor *t;
    int has_f, has_i;
} attr;

typedef struct rnode {
    char *op, *name;
    int nin, nout, nattr;
    int *in, *out; /* value indices; -1 for an omitted optional input */
    attr *attrs;
} rnode;

enum { V_UNDEF = 0, V_CONST, V_INPUT, V_RUNTIME };

typedef struct val {
    char *name;
    int kind;
    int dtype;
    int rank;
    int64_t dims[NN_MAX_RANK];
    size_t n;
    void *data;   /* V_CONST: owned */
    int alias;    /* value whose buffer this one shares (itself when it owns one) */
    int buf;      /* plan buffer id (owners only) */
    int consumers;
    int is_output;
    int first, last;
} val;

enum {
    S_CONV, S_POOL, S_GPOOL, S_BINARY, S_ACT, S_EXP, S_CONCAT, S_TRANSPOSE, S_SLICE, S_GATHER, S_SOFTMAX, S_GEMM,
    S_AFFINE
};
enum { B_ADD, B_SUB, B_MUL, B_DIV };

typedef struct step {
    int kind;
    int nin;
    int in[8];
    int out;
    nn_conv conv;
    nn_pool pool;
    nn_act act;
    float *slope; /* owned PReLU slopes */
    int op;
    int axis;
    int perm[NN_MAX_RANK];
    int64_t starts[NN_MAX_RANK], steps_[NN_MAX_RANK];
    int64_t *idx; /* gather indices (owned) */
    size_t nidx;
    size_t outer, mid, inner;
    /* gemm: out[M x N] = alpha * A[M x K] (transA) * B (transB) + beta * C */
    int m, n, k, ta, tb;
    float alpha, beta;
    const float *b_data, *c_data; /* borrowed from const values */
    int c_mode;                   /* 0 none, 1 scalar, 2 per column [N], 3 full [M x N] */
    float *scale, *shift;         /* S_AFFINE (owned) */
    size_t plane;
    int channels;
} step;

struct onnx_model {
    val *vals;
    int nvals, capvals;
    rnode *nodes;
    int nnodes;
    int input;
    int *outputs;
    int noutputs;
    int64_t opset;
    int64_t ir_version;
    step *steps;
    int nsteps;
    nn_plan plan;
    size_t scratch_floats; /* conv scratch, placed after plan.total */
    char *op_summary;
    /* name lookup (open addressing) */
    int *hash;
    size_t hcap;
};

/* ---- value table --------------------------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int grow_hash(onnx_model *m)
{
    size_t nc = m->hcap ? m->hcap * 2 : 1024;
    int *nh = malloc(nc * sizeof *nh);
    if (!nh)
        return -1;
    for (size_t i = 0; i < nc; i++)
        nh[i] = -1;
    for (int v = 0; v < m->nvals; v++) {
        size_t h = hash_str(m->vals[v].name, strlen(m->vals[v].name)) & (nc - 1);
        while (nh[h] >= 0)
            h = (h + 1) & (nc - 1);
        nh[h] = v;
    }
    free(m->hash);
    m->hash = nh;
    m->hcap = nc;
    return 0;
}

/* Finds or creates the value named by (s, n). Returns its index, -1 out of memory / limit. */
static int value_of(onnx_model *m, const uint8_t *s, size_t n, int create)
{
    if (n > ONNX_MAX_NAME)
        return -2;
    if (m->hcap == 0 || (size_t)(m->nvals + 1) * 2 > m->hcap)
        if (grow_hash(m))
            return -1;
    size_t h = hash_str((const char *)s, n) & (m->hcap - 1);
    while (m->hash[h] >= 0) {
        const char *nm = m->vals[m->hash[h]].name;
        if (strlen(nm) == n && memcmp(nm, s, n) == 0)
            return m->hash[h];
        h = (h + 1) & (m->hcap - 1);
    }
    if (!create)
        return -3;
    if (m->nvals >= ONNX_MAX_VALUES)
        return -2;
    if (m->nvals == m->capvals) {
        int nc = m->capvals ? m->capvals * 2 : 256;
        val *nv = realloc(m->vals, (size_t)nc * sizeof *nv);
        if (!nv)
            return -1;
        m->vals = nv;
        m->capvals = nc;
    }
    val *v = &m->vals[m->nvals];
    memset(v, 0, sizeof *v);
    v->name = malloc(n + 1);
    if (!v->name)
        return -1;
    memcpy(v->name, s, n);
    v->name[n] = 0;
    v->alias = m->nvals;
    v->buf = -1;
    v->first = v->last = -1;
    m->hash[h] = m->nvals;
    return m->nvals++;
}

static char *dup_bytes(const uint8_t *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static void tensor_free(tensor *t)
{
    if (t) {
        free(t->data);
        free(t);
    }
}

static void attr_clear(attr *a)
{
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    tensor_free(a->t);
}

static void attrs_free(attr *a, int n)
{
    for (int i = 0; i < n; i++)
        attr_clear(&a[i]);
    free(a);
}

static void step_free(step *s)
{
    nn_conv_free(&s->conv);
    free(s->slope);
    free(s->idx);
    free(s->scale);
    free(s->shift);
}

void onnx_model_free(onnx_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nvals; i++) {
        free(m->vals[i].name);
        free(m->vals[i].data);
    }
    free(m->vals);
    for (int i = 0; i < m->nnodes; i++) {
        free(m->nodes[i].op);
        free(m->nodes[i].name);
        free(m->nodes[i].in);
        free(m->nodes[i].out);
        attrs_free(m->nodes[i].attrs, m->nodes[i].nattr);
    }
    free(m->nodes);
    for (int i = 0; i < m->nsteps; i++)
        step_free(&m->steps[i]);
    free(m->steps);
    free(m->outputs);
    nn_plan_free(&m->plan);
    free(m->op_summary);
    free(m->hash);
    free(m);
}

/* ---- parsing ------------------------------------------------------------------------------------------------- */

#define BAD(...) fm_fail(ctx, FM_ERR_MODEL_INVALID, "onnx: " __VA_ARGS__)
#define NOMEM() fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory")

static int dims_count(int rank, const int64_t *dims, size_t *n)
{
    size_t t = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > (int64_t)NN_MAX_ELEMS || fm_mul_size(t, (size_t)dims[i], &t))
            return -1;
    }
    if (t > NN_MAX_ELEMS)
        return -1;
    *n = t;
    return 0;
}

/* Packed or unpacked repeated scalar field appended to a growable array of 8-byte or 4-byte items. */
typedef struct rep {
    void *p;
    size_t n, cap, esz;
} rep;

static int rep_push(rep *r, const void *item)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        if (nc > NN_MAX_ELEMS)
            return -1;
        void *np = realloc(r->p, nc * r->esz);
        if (!np)
            return -1;
        r->p = np;
        r->cap = nc;
    }
    memcpy((char *)r->p + r->n * r->esz, item, r->esz);
    r->n++;
    return 0;
}

/* kind: 0 = varint int64, 1 = fixed32 float */
static int rep_read(rep *r, const pbf *f, int kind)
{
    if (kind == 0) {
        if (f->wt == 0) {
            int64_t v = (int64_t)f->v;
            return rep_push(r, &v);
        }
        if (f->wt != 2)
            return -1;
        pb s = {f->data, f->data + f->len, 0};
        while (s.p < s.end) {
            uint64_t u;
            if (pb_varint(&s, &u))
                return -1;
            int64_t v = (int64_t)u;
            if (rep_push(r, &v))
                return -1;
        }
        return 0;
    }
    if (f->wt == 5) {
        float x = f32_of(f->v);
        return rep_push(r, &x);
    }
    if (f->wt != 2 || f->len % 4)
        return -1;
    for (size_t i = 0; i < f->len; i += 4) {
        float x;
        memcpy(&x, f->data + i, 4);
        if (rep_push(r, &x))
            return -1;
    }
    return 0;
}

static fm_status parse_tensor(fm_ctx *ctx, pb *r, tensor **out, char **name_out)
{
    tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NOMEM();
    rep dims = {NULL, 0, 0, 8}, fdata = {NULL, 0, 0, 4}, idata = {NULL, 0, 0, 8}, i32 = {NULL, 0, 0, 8};
    const uint8_t *raw = NULL;
    size_t rawlen = 0;
    int64_t dtype = 0, location = 0;
    int has_external = 0;
    char *name = NULL;
    fm_status st = FM_OK;
    pbf f = {0};
    int rc;
    while ((rc = pb_next(r, &f)) == 1) {
        switch (f.field) {
        case 1: if (rep_read(&dims, &f, 0)) rc = -1; break;
        case 2: if (f.wt != 0) rc = -1; else dtype = (int64_t)f.v; break;
        case 4: if (rep_read(&fdata, &f, 1)) rc = -1; break;
        case 5: if (rep_read(&i32, &f, 0)) rc = -1; break;
        case 7: if (rep_read(&idata, &f, 0)) rc = -1; break;
        case 8:
            if (f.wt != 2 || f.len > ONNX_MAX_NAME) { rc = -1; break; }
            free(name);
            name = dup_bytes(f.data, f.len);
            if (!name) st = NOMEM();
            break;
        case 9: if (f.wt != 2) rc = -1; else { raw = f.data; rawlen = f.len; } break;
        case 13: has_external = 1; break;
        case 14: if (f.wt != 0) rc = -1; else location = (int64_t)f.v; break;
        case 3: /* segment */
            if (f.wt == 2) has_external = 2;
            break;
        default: break; /* doc_string, other typed data fields checked below */
        }
        if (rc < 0 || st != FM_OK)
            break;
    }
    const char *nm = name ? name : "?";
    if (st == FM_OK && rc < 0)
        st = BAD("malformed TensorProto '%s'", nm);
    if (st == FM_OK && (has_external == 1 || location != 0))
        st = BAD("tensor '%s' uses external data, which is not supported", nm);
    if (st == FM_OK && has_external == 2)
        st = BAD("tensor '%s' is segmented, which is not supported", nm);
    if (st == FM_OK && dims.n > NN_MAX_RANK)
        st = BAD("tensor '%s' has rank %zu (max %d)", nm, dims.n, NN_MAX_RANK);
    if (st == FM_OK) {
        t->rank = (int)dims.n;
        if (dims.n)
            memcpy(t->dims, dims.p, dims.n * 8);
        if (dims_count(t->rank, t->dims, &t->n))
            st = BAD("tensor '%s' has invalid or too large dimensions", nm);
    }
    if (st == FM_OK) {
        if (dtype == DT_FLOAT) {
            t->dtype = DT_FLOAT;
            size_t have = raw ? rawlen / 4 : fdata.n;
            if ((raw && (rawlen % 4 || fdata.n)) || have != t->n)
                st = BAD("float tensor '%s': %zu values for %zu elements", nm, have, t->n);
            else if (!(t->data = malloc((t->n ? t->n : 1) * 4)))
                st = NOMEM();
            else if (t->n)
                memcpy(t->data, raw ? (const void *)raw : fdata.p, t->n * 4);
        } else if (dtype == DT_INT64 || dtype == DT_INT32) {
            t->dtype = DT_INT64;
            size_t es = dtype == DT_INT64 ? 8 : 4;
            rep *src = dtype == DT_INT64 ? &idata : &i32;
            size_t have = raw ? rawlen / es : src->n;
            if ((raw && (rawlen % es || src->n)) || have != t->n)
                st = BAD("integer tensor '%s': %zu values for %zu elements", nm, have, t->n);
            else if (!(t->data = malloc((t->n ? t->n : 1) * 8)))
                st = NOMEM();
            else {
                int64_t *d = t->data;
                for (size_t i = 0; i < t->n; i++) {
                    if (raw && es == 8)
                        memcpy(&d[i], raw + i * 8, 8);
                    else if (raw) {
                        int32_t x;
                        memcpy(&x, raw + i * 4, 4);
                        d[i] = x;
                    } else
                        d[i] = ((int64_t *)src->p)[i];
                }
            }
        } else {
            st = BAD("tensor '%s' has unsupported data type %lld", nm, (long long)dtype);
        }
    }
    free(dims.p);
    free(fdata.p);
    free(idata.p);
    free(i32.p);
    if (st != FM_OK) {
        free(name);
        tensor_free(t);
        return st;
    }
    *out = t;
    if (name_out)
        *name_out = name;
    else
        free(name);
    return FM_OK;
}

static fm_status parse_attr(fm_ctx *ctx, pb *r, attr *a)
{
    memset(a, 0, sizeof *a);
    rep ints = {NULL, 0, 0, 8}, floats = {NULL, 0, 0, 4};
    pbf f = {0};
    int rc;
    fm_status st = FM_OK;
    while ((rc = pb_next(r, &f)) == 1) {
        switch (f.field) {
        case 1:
            if (f.wt != 2 || f.len > ONNX_MAX_NAME) { rc = -1; break; }
            free(a->name);
            if (!(a->name = dup_bytes(f.data, f.len))) st = NOMEM();
            break;
        case 2: if (f.wt != 5) rc = -1; else { a->f = f32_of(f.v); a->has_f = 1; } break;
        case 3: if (f.wt != 0) rc = -1; else { a->i = (int64_t)f.v; a->has_i = 1; } break;
        case 4:
            if (f.wt != 2 || f.len > ONNX_MAX_NAME) { rc = -1; break; }
            free(a->s);
            if (!(a->s = dup_bytes(f.data, f.len))) st = NOMEM();
            break;
        case 5: {
            pb sub;
            if (pb_sub(r, &f, &sub)) { rc = -1; break; }
            tensor_free(a->t);
            a->t = NULL;
            st = parse_tensor(ctx, &sub, &a->t, NULL);
            break;
        }
        case 7: if (rep_read(&floats, &f, 1)) rc = -1; break;
        case 8: if (rep_read(&ints, &f, 0)) rc = -1; break;
        case 20: if (f.wt != 0) rc = -1; else a->type = (int)f.v; break;
        case 6: case 9: case 10: case 11: case 21: case 22: case 23:
            if (f.wt == 2) { /* graphs, sparse tensors, type protos, attribute refs: not used by our ops */
                st = BAD("attribute uses an unsupported field (%u)", f.field);
            }
            break;
        default: break;
        }
        if (rc < 0 || st != FM_OK)
            break;
    }
    if (st == FM_OK && rc < 0)
        st = BAD("malformed AttributeProto");
    if (st == FM_OK && !a->name)
        st = BAD("attribute without a name");
    if (st == FM_OK && (ints.n > 64 || floats.n > 64))
        st = BAD("attribute '%s' has too many values", a->name);
    a->ints = ints.p;
    a->nints = (int)ints.n;
    a->floats = floats.p;
    a->nfloats = (int)floats.n;
    return st;
}

static fm_status parse_node(fm_ctx *ctx, onnx_model *m, pb *r, rnode *nd)
{
    memset(nd, 0, sizeof *nd);
    rep ins = {NULL, 0, 0, sizeof(int)}, outs = {NULL, 0, 0, sizeof(int)};
    rep attrs = {NULL, 0, 0, sizeof(attr)};
    pbf f = {0};
    int rc;
    fm_status st = FM_OK;
    char *domain = NULL;
    while ((rc = pb_next(r, &f)) == 1) {
        switch (f.field) {
        case 1:
        case 2: {
            if (f.wt != 2) { rc = -1; break; }
            int v = -1;
            if (f.len > 0 || f.field == 2) {
                v = value_of(m, f.data, f.len, 1);
                if (v == -1) { st = NOMEM(); break; }
                if (v < 0) { st = BAD("too many values or a name too long"); break; }
            }
            if (rep_push(f.field == 1 ? &ins : &outs, &v)) st = NOMEM();
            if ((f.field == 1 ? ins.n : outs.n) > 64) st = BAD("node with more than 64 inputs or outputs");
            break;
        }
        case 3:
            if (f.wt != 2 || f.len > ONNX_MAX_NAME) { rc = -1; break; }
            free(nd->name);
            if (!(nd->name = dup_bytes(f.data, f.len))) st = NOMEM();
            break;
        case 4:
            if (f.wt != 2 || f.len > 64) { rc = -1; break; }
            free(nd->op);
            if (!(nd->op = dup_bytes(f.data, f.len))) st = NOMEM();
            break;
        case 5: {
            pb sub;
            attr a;
            if (pb_sub(r, &f, &sub)) { rc = -1; break; }
            if (attrs.n >= 64) { st = BAD("node with more than 64 attributes"); break; }
            st = parse_attr(ctx, &sub, &a);
            if (st == FM_OK && rep_push(&attrs, &a)) {
                attr_clear(&a);
                st = NOMEM();
            } else if (st != FM_OK) {
                attr_clear(&a);
            }
            break;
        }
        case 7:
            if (f.wt != 2 || f.len > 256) { rc = -1; break; }
            free(domain);
            if (!(domain = dup_bytes(f.data, f.len))) st = NOMEM();
            break;
        default: break;
        }
        if (rc < 0 || st != FM_OK)
            break;
    }
    nd->in = ins.p;
    nd->nin = (int)ins.n;
    nd->out = outs.p;
    nd->nout = (int)outs.n;
    nd->attrs = attrs.p;
    nd->nattr = (int)attrs.n;
    if (st == FM_OK && rc < 0)
        st = BAD("malformed NodeProto");
    if (st == FM_OK && !nd->op)
        st = BAD("node without op_type");
    if (st == FM_OK && domain && domain[0] && strcmp(domain, "ai.onnx") != 0)
        st = BAD("node '%s' (%s) is in unsupported domain '%s'", nd->name ? nd->name : "", nd->op, domain);
    free(domain);
    return st;
}

/* ValueInfoProto: name and (optionally) a tensor shape. */
static fm_status parse_value_info(fm_ctx *ctx, onnx_model *m, pb *r, int *vid, int *elem, int *rank, int64_t *dims)
{
    pbf f = {0};
    int rc;
    *vid = -1;
    *elem = 0;
    *rank = -1;
    while ((rc = pb_next(r, &f)) == 1) {
        if (f.field == 1 && f.wt == 2) {
            int v = value_of(m, f.data, f.len, 1);
            if (v == -1)
                return NOMEM();
            if (v < 0)
                return BAD("too many values or a name too long");
            *vid = v;
        } else if (f.field == 2) {
            pb tp, tt;
            if (pb_sub(r, &f, &tp))
                return BAD("malformed TypeProto");
            pbf g = {0};
            int rc2;
            while ((rc2 = pb_next(&tp, &g)) == 1) {
                if (g.field != 1)
                    continue; /* only tensor_type */
                if (pb_sub(&tp, &g, &tt))
                    return BAD("malformed TypeProto.Tensor");
                pbf h = {0};
                int rc3;
                while ((rc3 = pb_next(&tt, &h)) == 1) {
                    if (h.field == 1 && h.wt == 0)
                        *elem = (int)h.v;
                    else if (h.field == 2) {
                        pb sh;
                        if (pb_sub(&tt, &h, &sh))
                            return BAD("malformed TensorShapeProto");
                        *rank = 0;
                        pbf d = {0};
                        int rc4;
                        while ((rc4 = pb_next(&sh, &d)) == 1) {
                            if (d.field != 1)
                                continue;
                            pb dm;
                            if (pb_sub(&sh, &d, &dm) || *rank >= NN_MAX_RANK)
                                return BAD("malformed or too deep tensor shape");
                            int64_t dv = -1;
                            pbf e = {0};
                            int rc5;
                            while ((rc5 = pb_next(&dm, &e)) == 1)
                                if (e.field == 1 && e.wt == 0)
                                    dv = (int64_t)e.v;
                            if (rc5 < 0)
                                return BAD("malformed shape dimension");
                            dims[(*rank)++] = dv; /* -1: symbolic (dim_param) or absent */
                        }
                        if (rc4 < 0)
                            return BAD("malformed TensorShapeProto");
                    }
                }
                if (rc3 < 0)
                    return BAD("malformed TypeProto.Tensor");
            }
            if (rc2 < 0)
                return BAD("malformed TypeProto");
        }
    }
    if (rc < 0)
        return BAD("malformed ValueInfoProto");
    if (*vid < 0)
        return BAD("graph input/output without a name");
    return FM_OK;
}

typedef struct gin {
    int v, elem, rank;
    int64_t dims[NN_MAX_RANK];
} gin;

static fm_status parse_graph(fm_ctx *ctx, onnx_model *m, pb *r)
{
    rep nodes = {NULL, 0, 0, sizeof(rnode)};
    rep ins = {NULL, 0, 0, sizeof(gin)}, outs = {NULL, 0, 0, sizeof(int)};
    pbf f = {0};
    int rc;
    fm_status st = FM_OK;
    while ((rc = pb_next(r, &f)) == 1) {
        pb sub;
        if (f.field == 1) {
            rnode nd;
            if (pb_sub(r, &f, &sub)) { rc = -1; break; }
            if (nodes.n >= ONNX_MAX_NODES) { st = BAD("more than %d nodes", ONNX_MAX_NODES); break; }
            st = parse_node(ctx, m, &sub, &nd);
            if (rep_push(&nodes, &nd) && st == FM_OK) {
                st = NOMEM();
                free(nd.op); free(nd.name); free(nd.in); free(nd.out); attrs_free(nd.attrs, nd.nattr);
            }
        } else if (f.field == 5) {
            tensor *t = NULL;
            char *name = NULL;
            if (pb_sub(r, &f, &sub)) { rc = -1; break; }
            st = parse_tensor(ctx, &sub, &t, &name);
            if (st != FM_OK)
                break;
            if (!name) {
                tensor_free(t);
                st = BAD("initializer without a name");
                break;
            }
            int v = value_of(m, (const uint8_t *)name, strlen(name), 1);
            if (v < 0) {
                st = v == -1 ? NOMEM() : BAD("too many values or a name too long");
            } else if (m->vals[v].kind != V_UNDEF) {
                st = BAD("initializer '%s' defined twice", name);
            } else {
                val *x = &m->vals[v];
                x->kind = V_CONST;
                x->dtype = t->dtype;
                x->rank = t->rank;
                memcpy(x->dims, t->dims, sizeof x->dims);
                x->n = t->n;
                x->data = t->data;
                t->data = NULL;
            }
            free(name);
            tensor_free(t);
        } else if (f.field == 11 || f.field == 12) {
            gin g;
            if (pb_sub(r, &f, &sub)) { rc = -1; break; }
            st = parse_value_info(ctx, m, &sub, &g.v, &g.elem, &g.rank, g.dims);
            if (st == FM_OK) {
                if (f.field == 11 ? rep_push(&ins, &g) : rep_push(&outs, &g.v))
                    st = NOMEM();
                else if (outs.n > 64 || ins.n > 4096)
                    st = BAD("too many graph inputs or outputs");
            }
        } else if (f.field == 15 && f.wt == 2) {
            st = BAD("sparse initializers are not supported");
        }
        if (rc < 0 || st != FM_OK)
            break;
    }
    m->nodes = nodes.p;
    m->nnodes = (int)nodes.n;
    m->outputs = outs.p;
    m->noutputs = (int)outs.n;
    if (st == FM_OK && rc < 0)
        st = BAD("malformed GraphProto");
    /* runtime input: the graph inputs that are not initializers; exactly one */
    m->input = -1;
    for (size_t i = 0; st == FM_OK && i < ins.n; i++) {
        gin *g = &((gin *)ins.p)[i];
        if (m->vals[g->v].kind == V_CONST)
            continue;
        if (m->input >= 0) {
            st = BAD("more than one runtime input ('%s', '%s')", m->vals[m->input].name, m->vals[g->v].name);
            break;
        }
        if (g->elem != DT_FLOAT || g->rank < 1) {
            st = BAD("input '%s' is not a float tensor with a known shape", m->vals[g->v].name);
            break;
        }
        val *x = &m->vals[g->v];
        x->kind = V_INPUT;
        x->dtype = DT_FLOAT;
        x->rank = g->rank;
        for (int d = 0; d < g->rank; d++) {
            /* a symbolic leading (batch) dimension runs with batch 1 */
            x->dims[d] = g->dims[d] < 0 && d == 0 ? 1 : g->dims[d];
            if (x->dims[d] < 1) {
                st = BAD("input '%s' has an unknown dimension %d", x->name, d);
                break;
            }
        }
        if (st == FM_OK && dims_count(x->rank, x->dims, &x->n))
            st = BAD("input '%s' is too large", x->name);
        m->input = g->v;
    }
    if (st == FM_OK && m->input < 0)
        st = BAD("graph has no runtime input");
    if (st == FM_OK && m->noutputs < 1)
        st = BAD("graph has no outputs");
    free(ins.p);
    return st;
}

static fm_status parse_model(fm_ctx *ctx, onnx_model *m, const uint8_t *data, size_t len)
{
    pb r = {data, data + len, 0};
    pbf f = {0};
    int rc, have_graph = 0;
    fm_status st = FM_OK;
    m->opset = -1;
    while ((rc = pb_next(&r, &f)) == 1) {
        pb sub;
        if (f.field == 1 && f.wt == 0) {
            m->ir_version = (int64_t)f.v;
        } else if (f.field == 7) {
            if (have_graph) { st = BAD("more than one graph"); break; }
            if (pb_sub(&r, &f, &sub)) { rc = -1; break; }
            have_graph = 1;
            st = parse_graph(ctx, m, &sub);
        } else if (f.field == 8) {
            if (pb_sub(&r, &f, &sub)) { rc = -1; break; }
            pbf g = {0};
            int rc2, default_domain = 1;
            int64_t version = -1;
            while ((rc2 = pb_next(&sub, &g)) == 1) {
                if (g.field == 1 && g.wt == 2 && g.len > 0 && !(g.len == 7 && memcmp(g.data, "ai.onnx", 7) == 0))
                    default_domain = 0;
                if (g.field == 2 && g.wt == 0)
                    version = (int64_t)g.v;
            }
            if (rc2 < 0) { rc = -1; break; }
            if (default_domain)
                m->opset = version;
        } else if (f.field == 25 && f.wt == 2) {
            st = BAD("model-local functions are not supported");
        }
        if (st != FM_OK)
            break;
    }
    if (st != FM_OK)
        return st;
    if (rc < 0)
        return BAD("malformed ModelProto (bad varint, length or wire type)");
    if (!have_graph)
        return BAD("no graph in the file (not an ONNX model?)");
    if (m->opset < 1 || m->opset > 21)
        return BAD("unsupported default-domain opset %lld", (long long)m->opset);
    return FM_OK;
}

/* ============================================================================================================ */
/* Compilation: shape inference, folding, fusion                                                                */
/* ============================================================================================================ */

static const attr *find_attr(const rnode *nd, const char *name)
{
    for (int i = 0; i < nd->nattr; i++)
        if (strcmp(nd->attrs[i].name, name) == 0)
            return &nd->attrs[i];
    return NULL;
}

static int64_t attr_i(const rnode *nd, const char *name, int64_t def)
{
    const attr *a = find_attr(nd, name);
    return a && a->has_i ? a->i : def;
}

static float attr_f(const rnode *nd, const char *name, float def)
{
    const attr *a = find_attr(nd, name);
    return a && a->has_f ? a->f : def;
}

/* ints attribute into out (up to cap); returns count, or -1 if absent */
static int attr_ints(const rnode *nd, const char *name, int64_t *out, int cap)
{
    const attr *a = find_attr(nd, name);
    if (!a)
        return -1;
    if (a->nints > cap)
        return -2;
    for (int i = 0; i < a->nints; i++)
        out[i] = a->ints[i];
    return a->nints;
}

typedef struct cc {
    fm_ctx *ctx;
    onnx_model *m;
    const rnode *nd;
    int ni;
} cc;

#define NBAD(c, ...) node_bad((c), __VA_ARGS__)
static fm_status node_bad(const cc *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static fm_status node_bad(const cc *c, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fm_fail(c->ctx, FM_ERR_MODEL_INVALID, "onnx: node %d '%s' (%s): %s", c->ni,
                   c->nd->name ? c->nd->name : "", c->nd->op, msg);
}

static val *IN(const cc *c, int i) { return i < c->nd->nin && c->nd->in[i] >= 0 ? &c->m->vals[c->nd->in[i]] : NULL; }

static int is_const(const val *v) { return v && v->kind == V_CONST; }

static int set_shape(val *o, int dtype, int rank, const int64_t *dims)
{
    o->dtype = dtype;
    o->rank = rank;
    for (int i = 0; i < rank; i++)
        o->dims[i] = dims[i];
    return dims_count(rank, dims, &o->n);
}

static int norm_axis(int64_t axis, int rank, int *out)
{
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return -1;
    *out = (int)axis;
    return 0;
}

static size_t prod(const int64_t *d, int a, int b)
{
    size_t p = 1;
    for (int i = a; i < b; i++)
        p *= (size_t)d[i];
    return p;
}

/* ---- step execution (shared by constant folding and run time) ------------------------------------------------- */

typedef struct xio {
    const void *in[8];
    void *out;
    float *scratch;
    int threads;
} xio;

static void exec_binary(const onnx_model *m, const step *s, const xio *io)
{
    const val *a = &m->vals[s->in[0]], *b = &m->vals[s->in[1]], *o = &m->vals[s->out];
    const float *A = io->in[0], *B = io->in[1];
    float *O = io->out;
    const int op = s->op;
#define BINOP(x, y) (op == B_ADD ? (x) + (y) : op == B_SUB ? (x) - (y) : op == B_MUL ? (x) * (y) : (x) / (y))
    if (a->n == o->n && b->n == o->n) {
        for (size_t i = 0; i < o->n; i++)
            O[i] = BINOP(A[i], B[i]);
        return;
    }
    if (b->n == 1) {
        const float y = B[0];
        for (size_t i = 0; i < o->n; i++)
            O[i] = BINOP(A[i], y);
        return;
    }
    if (a->n == 1) {
        const float x = A[0];
        for (size_t i = 0; i < o->n; i++)
            O[i] = BINOP(x, B[i]);
        return;
    }
    /* general numpy broadcasting; operands right-aligned to the output rank */
    const int R = o->rank;
    int64_t sa[NN_MAX_RANK], sb[NN_MAX_RANK], idx[NN_MAX_RANK];
    int64_t ma = 1, mb = 1;
    for (int i = R - 1; i >= 0; i--) {
        int ia = i - (R - a->rank), ib = i - (R - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        sa[i] = da == 1 ? 0 : ma;
        sb[i] = db == 1 ? 0 : mb;
        ma *= da;
        mb *= db;
        idx[i] = 0;
    }
    const int64_t inner = o->dims[R - 1], ia_s = sa[R - 1], ib_s = sb[R - 1];
    size_t oi = 0;
    while (oi < o->n) {
        int64_t pa = 0, pbb = 0;
        for (int i = 0; i < R - 1; i++) {
            pa += idx[i] * sa[i];
            pbb += idx[i] * sb[i];
        }
        for (int64_t t = 0; t < inner; t++)
            O[oi++] = BINOP(A[pa + t * ia_s], B[pbb + t * ib_s]);
        for (int i = R - 2; i >= 0; i--) {
            if (++idx[i] < o->dims[i])
                break;
            idx[i] = 0;
        }
    }
#undef BINOP
}

static void exec_concat(const onnx_model *m, const step *s, const xio *io)
{
    const val *o = &m->vals[s->out];
    size_t es = o->dtype == DT_INT64 ? 8 : 4;
    size_t outer = prod(o->dims, 0, s->axis), inner = prod(o->dims, s->axis + 1, o->rank);
    char *dst = io->out;
    for (size_t q = 0; q < outer; q++)
        for (int i = 0; i < s->nin; i++) {
            const val *v = &m->vals[s->in[i]];
            size_t chunk = (size_t)v->dims[s->axis] * inner * es;
            memcpy(dst, (const char *)io->in[i] + q * chunk, chunk);
            dst += chunk;
        }
}

static void exec_slice(const onnx_model *m, const step *s, const xio *io)
{
    const val *v = &m->vals[s->in[0]], *o = &m->vals[s->out];
    size_t es = o->dtype == DT_INT64 ? 8 : 4;
    const int R = o->rank;
    int64_t stride[NN_MAX_RANK], idx[NN_MAX_RANK] = {0};
    int64_t st = 1;
    for (int i = R - 1; i >= 0; i--) {
        stride[i] = st;
        st *= v->dims[i];
    }
    const char *src = io->in[0];
    char *dst = io->out;
    for (size_t oi = 0; oi < o->n; oi++) {
        int64_t off = 0;
        for (int i = 0; i < R; i++)
            off += (s->starts[i] + idx[i] * s->steps_[i]) * stride[i];
        memcpy(dst + oi * es, src + (size_t)off * es, es);
        for (int i = R - 1; i >= 0; i--) {
            if (++idx[i] < o->dims[i])
                break;
            idx[i] = 0;
        }
    }
}

static void exec_gather(const onnx_model *m, const step *s, const xio *io)
{
    const val *v = &m->vals[s->in[0]], *o = &m->vals[s->out];
    size_t es = o->dtype == DT_INT64 ? 8 : 4;
    size_t outer = prod(v->dims, 0, s->axis), inner = prod(v->dims, s->axis + 1, v->rank) * es;
    size_t dim = (size_t)v->dims[s->axis];
    const char *src = io->in[0];
    char *dst = io->out;
    for (size_t q = 0; q < outer; q++)
        for (size_t j = 0; j < s->nidx; j++) {
            memcpy(dst, src + (q * dim + (size_t)s->idx[j]) * inner, inner);
            dst += inner;
        }
}

static void exec_gemm(const onnx_model *m, const step *s, const xio *io)
{
    (void)m;
    float *C = io->out;
    const float *A = io->in[0];
    const size_t mn = (size_t)s->m * (size_t)s->n;
    float beta = 0.0f;
    if (s->c_mode) {
        for (size_t i = 0; i < mn; i++)
            C[i] = s->c_mode == 1 ? s->c_data[0] : s->c_mode == 2 ? s->c_data[i % (size_t)s->n] : s->c_data[i];
        beta = s->beta;
    }
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->m, s->n, s->k,
                s->alpha, A, s->ta ? s->m : s->k, s->b_data, s->tb ? s->k : s->n, beta, C, s->n);
}

static void exec_step(const onnx_model *m, const step *s, const xio *io)
{
    const val *o = &m->vals[s->out];
    switch (s->kind) {
    case S_CONV: {
        const val *x = &m->vals[s->in[0]];
        nn_tensor ti = nn_tensor_make((float *)io->in[0], (int)x->dims[1], (int)x->dims[2], (int)x->dims[3]);
        nn_tensor to = nn_tensor_make(io->out, (int)o->dims[1], (int)o->dims[2], (int)o->dims[3]);
        nn_conv_forward(&s->conv, &ti, &to, io->scratch, io->threads);
        break;
    }
    case S_POOL: {
        const val *x = &m->vals[s->in[0]];
        nn_tensor ti = nn_tensor_make((float *)io->in[0], (int)x->dims[1], (int)x->dims[2], (int)x->dims[3]);
        nn_tensor to = nn_tensor_make(io->out, (int)o->dims[1], (int)o->dims[2], (int)o->dims[3]);
        nn_pool_forward(&s->pool, &ti, &to);
        break;
    }
    case S_GPOOL: {
        const val *x = &m->vals[s->in[0]];
        nn_tensor ti = nn_tensor_make((float *)io->in[0], (int)x->dims[1], 1, (int)(x->n / (size_t)x->dims[1]));
        nn_tensor to = nn_tensor_make(io->out, (int)x->dims[1], 1, 1);
        nn_global_pool((nn_pool_kind)s->op, &ti, &to);
        break;
    }
    case S_BINARY:
        exec_binary(m, s, io);
        break;
    case S_ACT:
        if (io->out != io->in[0])
            memcpy(io->out, io->in[0], o->n * sizeof(float));
        nn_act_apply(io->out, s->channels, s->plane, &s->act);
        break;
    case S_EXP: {
        const float *x = io->in[0];
        float *y = io->out;
        for (size_t i = 0; i < o->n; i++)
            y[i] = expf(x[i]);
        break;
    }
    case S_CONCAT:
        exec_concat(m, s, io);
        break;
    case S_TRANSPOSE: {
        const val *x = &m->vals[s->in[0]];
        nn_transpose(io->in[0], io->out, x->rank, x->dims, s->perm);
        break;
    }
    case S_SLICE:
        exec_slice(m, s, io);
        break;
    case S_GATHER:
        exec_gather(m, s, io);
        break;
    case S_SOFTMAX:
        memcpy(io->out, io->in[0], o->n * sizeof(float));
        nn_softmax(io->out, s->outer, s->mid, s->inner);
        break;
    case S_GEMM:
        exec_gemm(m, s, io);
        break;
    case S_AFFINE:
        memcpy(io->out, io->in[0], o->n * sizeof(float));
        nn_affine(io->out, s->channels, s->plane, s->scale, s->shift);
        break;
    }
}

/* ---- node compilation ------------------------------------------------------------------------------------------ */

static fm_status need_inputs(const cc *c, int min, int max)
{
    if (c->nd->nin < min || c->nd->nin > max)
        return NBAD(c, "expects %d..%d inputs, has %d", min, max, c->nd->nin);
    for (int i = 0; i < min; i++)
        if (!IN(c, i))
            return NBAD(c, "input %d is missing", i);
    if (c->nd->nout < 1)
        return NBAD(c, "has no output");
    return FM_OK;
}

static fm_status need_float(const cc *c, const val *v)
{
    if (v->dtype != DT_FLOAT)
        return NBAD(c, "input '%s' must be float", v->name);
    return FM_OK;
}

/* Output value of the node; must not be defined already. */
static val *OUT(const cc *c) { return &c->m->vals[c->nd->out[0]]; }

static fm_status shape_or_bad(const cc *c, val *o, int dtype, int rank, const int64_t *dims)
{
    if (rank > NN_MAX_RANK || set_shape(o, dtype, rank, dims))
        return NBAD(c, "output shape invalid or too large");
    return FM_OK;
}

/* Builds an alias (no-copy reshape): output shares the input's memory. */
static fm_status make_alias(const cc *c, const val *x, int rank, const int64_t *dims)
{
    val *o = OUT(c);
    fm_status st = shape_or_bad(c, o, x->dtype, rank, dims);
    if (st != FM_OK)
        return st;
    if (o->n != x->n)
        return NBAD(c, "reshape from %zu to %zu elements", x->n, o->n);
    if (x->kind == V_CONST) {
        size_t bytes = x->n * (x->dtype == DT_INT64 ? 8 : 4);
        o->data = malloc(bytes ? bytes : 1);
        if (!o->data)
            return fm_fail(c->ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
        memcpy(o->data, x->data, bytes);
        o->kind = V_CONST;
    } else {
        o->kind = V_RUNTIME;
        o->alias = x->alias;
    }
    return FM_OK;
}

/* reads an int64 const input into out; returns count or -1 */
static int const_ints(const val *v, int64_t *out, int cap)
{
    if (!is_const(v) || v->dtype != DT_INT64 || v->n > (size_t)cap)
        return -1;
    memcpy(out, v->data, v->n * 8);
    return (int)v->n;
}

static fm_status build_conv(const cc *c, step *s)
{
    fm_status st = need_inputs(c, 2, 3);
    if (st != FM_OK)
        return st;
    const val *x = IN(c, 0), *w = IN(c, 1), *b = IN(c, 2);
    if ((st = need_float(c, x)) != FM_OK)
        return st;
    if (x->rank != 4 || x->dims[0] != 1)
        return NBAD(c, "input must be 1xCxHxW");
    if (!is_const(w) || w->dtype != DT_FLOAT || w->rank != 4)
        return NBAD(c, "weights must be a constant float [M, C/group, kH, kW] tensor");
    if (b && (!is_const(b) || b->dtype != DT_FLOAT || b->n != (size_t)w->dims[0]))
        return NBAD(c, "bias must be a constant float [M] tensor");
    int64_t ks[2] = {w->dims[2], w->dims[3]}, str[2] = {1, 1}, dil[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    int n;
    if ((n = attr_ints(c->nd, "kernel_shape", ks, 2)) >= 0 && (n != 2 || ks[0] != w->dims[2] || ks[1] != w->dims[3]))
        return NBAD(c, "kernel_shape does not match the weights");
    if ((n = attr_ints(c->nd, "strides", str, 2)) >= 0 && n != 2)
        return NBAD(c, "strides must have 2 values");
    if ((n = attr_ints(c->nd, "dilations", dil, 2)) >= 0 && n != 2)
        return NBAD(c, "dilations must have 2 values");
    if ((n = attr_ints(c->nd, "pads", pads, 4)) >= 0 && n != 4)
        return NBAD(c, "pads must have 4 values");
    int64_t group = attr_i(c->nd, "group", 1);
    const attr *ap = find_attr(c->nd, "auto_pad");
    if (ap && ap->s && strcmp(ap->s, "NOTSET") != 0) {
        if (strcmp(ap->s, "VALID") == 0) {
            pads[0] = pads[1] = pads[2] = pads[3] = 0;
        } else if (strcmp(ap->s, "SAME_UPPER") == 0 || strcmp(ap->s, "SAME_LOWER") == 0) {
            for (int a = 0; a < 2; a++) {
                int64_t in = x->dims[2 + a], sd = str[a] > 0 ? str[a] : 1;
                int64_t outd = (in + sd - 1) / sd;
                int64_t total = (outd - 1) * sd + (ks[a] - 1) * dil[a] + 1 - in;
                if (total < 0)
                    total = 0;
                int64_t small = total / 2, big = total - small;
                int upper = strcmp(ap->s, "SAME_UPPER") == 0;
                pads[a] = upper ? small : big;
                pads[a + 2] = upper ? big : small;
            }
        } else {
            return NBAD(c, "unsupported auto_pad '%s'", ap->s);
        }
    }
    for (int i = 0; i < 4; i++)
        if (pads[i] < 0 || pads[i] > 4096 || (i < 2 && (str[i] < 1 || str[i] > 1024 || dil[i] < 1 || dil[i] > 1024)))
            return NBAD(c, "invalid pads/strides/dilations");
    if (group < 1 || group > NN_MAX_DIM || x->dims[1] != w->dims[1] * group)
        return NBAD(c, "input channels %lld do not match weights [%lld, %lld, ...] with group %lld",
                    (long long)x->dims[1], (long long)w->dims[0], (long long)w->dims[1], (long long)group);
    nn_conv_desc d = {(int)x->dims[1], (int)w->dims[0], (int)ks[0], (int)ks[1], (int)str[0], (int)str[1],
                      (int)dil[0], (int)dil[1], (int)pads[0], (int)pads[1], (int)pads[2], (int)pads[3], (int)group};
    st = nn_conv_init(&s->conv, &d, w->data, b ? b->data : NULL, c->ctx);
    if (st != FM_OK)
        return NBAD(c, "invalid convolution: %s", fm_ctx_errmsg(c->ctx));
    int oh, ow;
    if (nn_conv_out_hw(&s->conv, (int)x->dims[2], (int)x->dims[3], &oh, &ow))
        return NBAD(c, "empty or too large output for input %lldx%lld", (long long)x->dims[2],
                    (long long)x->dims[3]);
    s->kind = S_CONV;
    int64_t od[4] = {1, d.out_c, oh, ow};
    return shape_or_bad(c, OUT(c), DT_FLOAT, 4, od);
}

static fm_status build_pool(const cc *c, step *s, int kind)
{
    fm_status st = need_inputs(c, 1, 1);
    if (st != FM_OK)
        return st;
    const val *x = IN(c, 0);
    if ((st = need_float(c, x)) != FM_OK)
        return st;
    if (x->rank != 4 || x->dims[0] != 1)
        return NBAD(c, "input must be 1xCxHxW");
    int64_t ks[2], str[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, dil[2] = {1, 1};
    if (attr_ints(c->nd, "kernel_shape", ks, 2) != 2)
        return NBAD(c, "kernel_shape must have 2 values");
    int n;
    if ((n = attr_ints(c->nd, "strides", str, 2)) >= 0 && n != 2)
        return NBAD(c, "strides must have 2 values");
    if ((n = attr_ints(c->nd, "pads", pads, 4)) >= 0 && n != 4)
        return NBAD(c, "pads must have 4 values");
    if ((n = attr_ints(c->nd, "dilations", dil, 2)) >= 0 && (n != 2 || dil[0] != 1 || dil[1] != 1))
        return NBAD(c, "dilated pooling is not supported");
    if (attr_i(c->nd, "storage_order", 0) != 0 || c->nd->nout > 1)
        return NBAD(c, "MaxPool indices output / storage_order are not supported");
    const attr *ap = find_attr(c->nd, "auto_pad");
    if (ap && ap->s && strcmp(ap->s, "NOTSET") != 0 && strcmp(ap->s, "VALID") != 0)
        return NBAD(c, "unsupported auto_pad '%s'", ap->s);
    for (int i = 0; i < 4; i++)
        if (pads[i] < 0 || pads[i] >= ks[i % 2] || (i < 2 && (ks[i] < 1 || ks[i] > 4096 || str[i] < 1 || str[i] > 4096)))
            return NBAD(c, "invalid kernel/strides/pads");
    nn_pool p = {(nn_pool_kind)kind, (int)ks[0], (int)ks[1], (int)str[0], (int)str[1], (int)pads[0], (int)pads[1],
                 (int)pads[2], (int)pads[3], (int)attr_i(c->nd, "ceil_mode", 0) != 0,
                 (int)attr_i(c->nd, "count_include_pad", 0) != 0};
    int oh, ow;
    if (nn_pool_out_hw(&p, (int)x->dims[2], (int)x->dims[3], &oh, &ow))
        return NBAD(c, "invalid pooling geometry for the input");
    s->pool = p;
    s->kind = S_POOL;
    int64_t od[4] = {1, x->dims[1], oh, ow};
    return shape_or_bad(c, OUT(c), DT_FLOAT, 4, od);
}

static fm_status build_binary(const cc *c, step *s, int op)
{
    fm_status st = need_inputs(c, 2, 2);
    if (st != FM_OK)
        return st;
    const val *a = IN(c, 0), *b = IN(c, 1);
    if ((st = need_float(c, a)) != FM_OK || (st = need_float(c, b)) != FM_OK)
        return st;
    int R = a->rank > b->rank ? a->rank : b->rank;
    int64_t od[NN_MAX_RANK];
    for (int i = 0; i < R; i++) {
        int ia = i - (R - a->rank), ib = i - (R - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return NBAD(c, "shapes are not broadcastable (axis %d: %lld vs %lld)", i, (long long)da, (long long)db);
        od[i] = da == 1 ? db : da;
    }
    if (R == 0) {
        R = 1;
        od[0] = 1;
    }
    s->kind = S_BINARY;
    s->op = op;
    return shape_or_bad(c, OUT(c), DT_FLOAT, R, od);
}

/* channel layout of a tensor for per-channel ops: channels = dims[1] (1 for rank < 2), plane = the rest */
static void chan_layout(const val *x, int *channels, size_t *plane)
{
    if (x->rank < 2 || x->dims[0] != 1) {
        *channels = 1;
        *plane = x->n;
    } else {
        *channels = (int)x->dims[1];
        *plane = prod(x->dims, 2, x->rank);
    }
}

static fm_status build_act(const cc *c, step *s, nn_act_kind kind)
{
    fm_status st = need_inputs(c, 1, kind == NN_ACT_PRELU ? 2 : 3);
    if (st != FM_OK)
        return st;
    const val *x = IN(c, 0);
    if ((st = need_float(c, x)) != FM_OK)
        return st;
    nn_act a = {kind, 0, 0, 0, NULL, 0};
    chan_layout(x, &s->channels, &s->plane);
    if (kind == NN_ACT_CLIP) {
        a.lo = -FLT_MAX;
        a.hi = FLT_MAX;
        if (c->m->opset < 11) {
            a.lo = attr_f(c->nd, "min", -FLT_MAX);
            a.hi = attr_f(c->nd, "max", FLT_MAX);
        } else {
            const val *lo = IN(c, 1), *hi = IN(c, 2);
            if ((lo && (!is_const(lo) || lo->dtype != DT_FLOAT || lo->n != 1)) ||
                (hi && (!is_const(hi) || hi->dtype != DT_FLOAT || hi->n != 1)))
                return NBAD(c, "min/max must be constant float scalars");
            if (lo)
                a.lo = ((const float *)lo->data)[0];
            if (hi)
                a.hi = ((const float *)hi->data)[0];
        }
    } else if (kind == NN_ACT_LEAKY) {
        a.alpha = attr_f(c->nd, "alpha", 0.01f);
    } else if (kind == NN_ACT_PRELU) {
        const val *sl = IN(c, 1);
        if (!sl || !is_const(sl) || sl->dtype != DT_FLOAT)
            return NBAD(c, "slope must be a constant float tensor");
        /* the slope must broadcast as one value or one value per channel (axis 1) */
        int per_channel = 0;
        if (sl->n != 1) {
            int axis_of_c = -1;
            for (int i = 0; i < sl->rank; i++)
                if (sl->dims[i] != 1) {
                    if (axis_of_c >= 0)
                        return NBAD(c, "slope must be per channel");
                    axis_of_c = i + (x->rank - sl->rank);
                }
            if (axis_of_c != 1 || (int64_t)sl->n != x->dims[1])
                return NBAD(c, "slope shape does not broadcast per channel");
            per_channel = 1;
        }
        s->slope = malloc(sl->n * sizeof(float));
        if (!s->slope)
            return fm_fail(c->ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
        memcpy(s->slope, sl->data, sl->n * sizeof(float));
        a.slope = s->slope;
        a.slope_n = per_channel ? (int)sl->n : 1;
    } else if (c->nd->nin > 1) {
        return NBAD(c, "too many inputs");
    }
    s->act = a;
    s->kind = S_ACT;
    return shape_or_bad(c, OUT(c), DT_FLOAT, x->rank, x->dims);
}

static fm_status build_node(const cc *c, step *s, int *alias_only)
{
    const rnode *nd = c->nd;
    const char *op = nd->op;
    onnx_model *m = c->m;
    fm_status st;
    *alias_only = 0;
    s->in[0] = nd->nin > 0 ? nd->in[0] : -1;
    s->nin = nd->nin < 8 ? nd->nin : 8;
    for (int i = 0; i < s->nin; i++)
        s->in[i] = nd->in[i];
    if (nd->nout < 1)
        return NBAD(c, "has no output");
    s->out = nd->out[0];
    for (int i = 0; i < nd->nout; i++)
        if (m->vals[nd->out[i]].kind != V_UNDEF)
            return NBAD(c, "output '%s' is defined twice", m->vals[nd->out[i]].name);
    if (nd->nout > 1 && strcmp(op, "Dropout") != 0)
        return NBAD(c, "nodes with more than one output are not supported");

    if (strcmp(op, "Conv") == 0)
        return build_conv(c, s);
    if (strcmp(op, "MaxPool") == 0)
        return build_pool(c, s, NN_POOL_MAX);
    if (strcmp(op, "AveragePool") == 0)
        return build_pool(c, s, NN_POOL_AVG);
    if (strcmp(op, "GlobalAveragePool") == 0 || strcmp(op, "GlobalMaxPool") == 0) {
        if ((st = need_inputs(c, 1, 1)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        if ((st = need_float(c, x)) != FM_OK)
            return st;
        if (x->rank < 3 || x->dims[0] != 1)
            return NBAD(c, "input must be 1xCxHxW");
        int64_t od[NN_MAX_RANK];
        for (int i = 0; i < x->rank; i++)
            od[i] = i < 2 ? x->dims[i] : 1;
        s->kind = S_GPOOL;
        s->op = op[6] == 'A' ? NN_POOL_AVG : NN_POOL_MAX;
        return shape_or_bad(c, OUT(c), DT_FLOAT, x->rank, od);
    }
    if (strcmp(op, "Add") == 0)
        return build_binary(c, s, B_ADD);
    if (strcmp(op, "Sub") == 0)
        return build_binary(c, s, B_SUB);
    if (strcmp(op, "Mul") == 0)
        return build_binary(c, s, B_MUL);
    if (strcmp(op, "Div") == 0)
        return build_binary(c, s, B_DIV);
    if (strcmp(op, "Relu") == 0)
        return build_act(c, s, NN_ACT_RELU);
    if (strcmp(op, "Sigmoid") == 0)
        return build_act(c, s, NN_ACT_SIGMOID);
    if (strcmp(op, "Clip") == 0)
        return build_act(c, s, NN_ACT_CLIP);
    if (strcmp(op, "LeakyRelu") == 0)
        return build_act(c, s, NN_ACT_LEAKY);
    if (strcmp(op, "PRelu") == 0)
        return build_act(c, s, NN_ACT_PRELU);
    if (strcmp(op, "Exp") == 0) {
        if ((st = need_inputs(c, 1, 1)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        if ((st = need_float(c, x)) != FM_OK)
            return st;
        s->kind = S_EXP;
        return shape_or_bad(c, OUT(c), DT_FLOAT, x->rank, x->dims);
    }
    if (strcmp(op, "Identity") == 0 || strcmp(op, "Dropout") == 0) {
        if ((st = need_inputs(c, 1, 3)) != FM_OK)
            return st;
        if (nd->nout > 1)
            return NBAD(c, "Dropout mask output is not supported");
        *alias_only = 1;
        return make_alias(c, IN(c, 0), IN(c, 0)->rank, IN(c, 0)->dims);
    }
    if (strcmp(op, "Reshape") == 0) {
        if ((st = need_inputs(c, 2, 2)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        int64_t sh[NN_MAX_RANK];
        int r = const_ints(IN(c, 1), sh, NN_MAX_RANK);
        if (r < 0)
            return NBAD(c, "shape must be a constant int64 tensor of rank <= %d (dynamic shapes unsupported)",
                        NN_MAX_RANK);
        int neg = -1;
        size_t known = 1;
        for (int i = 0; i < r; i++) {
            if (sh[i] == 0) {
                if (i >= x->rank)
                    return NBAD(c, "shape 0 refers to a missing input axis");
                sh[i] = x->dims[i];
            }
            if (sh[i] == -1) {
                if (neg >= 0)
                    return NBAD(c, "more than one -1 in shape");
                neg = i;
            } else if (sh[i] < 0 || sh[i] > (int64_t)NN_MAX_ELEMS || fm_mul_size(known, (size_t)sh[i], &known)) {
                return NBAD(c, "invalid shape value");
            }
        }
        if (neg >= 0) {
            if (known == 0 || x->n % known)
                return NBAD(c, "cannot infer -1 in shape");
            sh[neg] = (int64_t)(x->n / known);
        }
        *alias_only = 1;
        return make_alias(c, x, r, sh);
    }
    if (strcmp(op, "Flatten") == 0) {
        if ((st = need_inputs(c, 1, 1)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        int64_t axis = attr_i(nd, "axis", 1);
        if (axis < 0)
            axis += x->rank;
        if (axis < 0 || axis > x->rank)
            return NBAD(c, "axis out of range");
        int64_t sh[2] = {(int64_t)prod(x->dims, 0, (int)axis), (int64_t)prod(x->dims, (int)axis, x->rank)};
        *alias_only = 1;
        return make_alias(c, x, 2, sh);
    }
    if (strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Squeeze") == 0) {
        if ((st = need_inputs(c, 1, 2)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        int64_t axes[NN_MAX_RANK];
        int na;
        if (m->opset < 13)
            na = attr_ints(nd, "axes", axes, NN_MAX_RANK);
        else
            na = IN(c, 1) ? const_ints(IN(c, 1), axes, NN_MAX_RANK) : -1;
        int unsq = op[0] == 'U';
        int64_t sh[NN_MAX_RANK];
        int r = 0;
        if (unsq) {
            if (na < 1)
                return NBAD(c, "axes are required");
            int R = x->rank + na;
            if (R > NN_MAX_RANK)
                return NBAD(c, "rank too large");
            char mark[NN_MAX_RANK] = {0};
            for (int i = 0; i < na; i++) {
                int a;
                if (norm_axis(axes[i], R, &a) || mark[a])
                    return NBAD(c, "invalid axes");
                mark[a] = 1;
            }
            int j = 0;
            for (int i = 0; i < R; i++)
                sh[r++] = mark[i] ? 1 : x->dims[j++];
        } else {
            char mark[NN_MAX_RANK] = {0};
            if (na < 0) {
                for (int i = 0; i < x->rank; i++)
                    mark[i] = x->dims[i] == 1;
            } else {
                for (int i = 0; i < na; i++) {
                    int a;
                    if (norm_axis(axes[i], x->rank, &a) || x->dims[a] != 1)
                        return NBAD(c, "invalid axes");
                    mark[a] = 1;
                }
            }
            for (int i = 0; i < x->rank; i++)
                if (!mark[i])
                    sh[r++] = x->dims[i];
        }
        *alias_only = 1;
        return make_alias(c, x, r, sh);
    }
    if (strcmp(op, "Shape") == 0) {
        if ((st = need_inputs(c, 1, 1)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        val *o = OUT(c);
        int64_t d1 = x->rank;
        if ((st = shape_or_bad(c, o, DT_INT64, 1, &d1)) != FM_OK)
            return st;
        o->data = malloc(8 * (size_t)(x->rank ? x->rank : 1));
        if (!o->data)
            return fm_fail(c->ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
        memcpy(o->data, x->dims, 8 * (size_t)x->rank);
        o->kind = V_CONST;
        *alias_only = 1;
        return FM_OK;
    }
    if (strcmp(op, "Constant") == 0 || strcmp(op, "ConstantOfShape") == 0) {
        val *o = OUT(c);
        const attr *a = find_attr(nd, "value");
        if (strcmp(op, "Constant") == 0) {
            if (nd->nin != 0 || !a || !a->t)
                return NBAD(c, "only the 'value' tensor form is supported");
            if ((st = shape_or_bad(c, o, a->t->dtype, a->t->rank, a->t->dims)) != FM_OK)
                return st;
            size_t bytes = o->n * (o->dtype == DT_INT64 ? 8 : 4);
            o->data = malloc(bytes ? bytes : 1);
            if (!o->data)
                return fm_fail(c->ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
            memcpy(o->data, a->t->data, bytes);
        } else {
            if ((st = need_inputs(c, 1, 1)) != FM_OK)
                return st;
            int64_t sh[NN_MAX_RANK];
            int r = const_ints(IN(c, 0), sh, NN_MAX_RANK);
            if (r < 0)
                return NBAD(c, "shape must be a constant int64 tensor");
            if (a && (!a->t || a->t->n != 1))
                return NBAD(c, "value must be a one-element tensor");
            int dt = a ? a->t->dtype : DT_FLOAT;
            if ((st = shape_or_bad(c, o, dt, r, sh)) != FM_OK)
                return st;
            o->data = malloc(o->n * 8 + 8);
            if (!o->data)
                return fm_fail(c->ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
            for (size_t i = 0; i < o->n; i++) {
                if (dt == DT_FLOAT)
                    ((float *)o->data)[i] = a ? ((float *)a->t->data)[0] : 0.0f;
                else
                    ((int64_t *)o->data)[i] = ((int64_t *)a->t->data)[0];
            }
        }
        o->kind = V_CONST;
        *alias_only = 1;
        return FM_OK;
    }
    if (strcmp(op, "Concat") == 0) {
        if (nd->nin < 1 || nd->nin > 8)
            return NBAD(c, "supports 1..8 inputs");
        if ((st = need_inputs(c, nd->nin, nd->nin)) != FM_OK)
            return st;
        const val *x0 = IN(c, 0);
        int axis;
        if (x0->rank < 1 || norm_axis(attr_i(nd, "axis", 0), x0->rank, &axis))
            return NBAD(c, "axis out of range");
        int64_t od[NN_MAX_RANK];
        memcpy(od, x0->dims, sizeof od);
        od[axis] = 0;
        for (int i = 0; i < nd->nin; i++) {
            const val *x = IN(c, i);
            if (x->rank != x0->rank || x->dtype != x0->dtype)
                return NBAD(c, "inputs differ in rank or type");
            for (int d = 0; d < x->rank; d++)
                if (d != axis && x->dims[d] != x0->dims[d])
                    return NBAD(c, "inputs differ in shape off the concat axis");
            od[axis] += x->dims[axis];
        }
        s->kind = S_CONCAT;
        s->axis = axis;
        return shape_or_bad(c, OUT(c), x0->dtype, x0->rank, od);
    }
    if (strcmp(op, "Transpose") == 0) {
        if ((st = need_inputs(c, 1, 1)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        if ((st = need_float(c, x)) != FM_OK)
            return st;
        int64_t perm[NN_MAX_RANK];
        int n = attr_ints(nd, "perm", perm, NN_MAX_RANK);
        if (n < 0) {
            n = x->rank;
            for (int i = 0; i < n; i++)
                perm[i] = n - 1 - i;
        }
        if (n != x->rank)
            return NBAD(c, "perm has %d entries for rank %d", n, x->rank);
        char seen[NN_MAX_RANK] = {0};
        int64_t od[NN_MAX_RANK];
        for (int i = 0; i < n; i++) {
            if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
                return NBAD(c, "perm is not a permutation");
            seen[perm[i]] = 1;
            s->perm[i] = (int)perm[i];
            od[i] = x->dims[perm[i]];
        }
        s->kind = S_TRANSPOSE;
        return shape_or_bad(c, OUT(c), DT_FLOAT, n, od);
    }
    if (strcmp(op, "Slice") == 0) {
        if ((st = need_inputs(c, 1, 5)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        int64_t starts[NN_MAX_RANK], ends[NN_MAX_RANK], axes[NN_MAX_RANK], steps[NN_MAX_RANK];
        int ns, ne, na, nst = -1;
        if (m->opset < 10) {
            ns = attr_ints(nd, "starts", starts, NN_MAX_RANK);
            ne = attr_ints(nd, "ends", ends, NN_MAX_RANK);
            na = attr_ints(nd, "axes", axes, NN_MAX_RANK);
        } else {
            ns = IN(c, 1) ? const_ints(IN(c, 1), starts, NN_MAX_RANK) : -1;
            ne = IN(c, 2) ? const_ints(IN(c, 2), ends, NN_MAX_RANK) : -1;
            na = IN(c, 3) ? const_ints(IN(c, 3), axes, NN_MAX_RANK) : -1;
            nst = IN(c, 4) ? const_ints(IN(c, 4), steps, NN_MAX_RANK) : -1;
            if ((nd->nin > 3 && IN(c, 3) && na < 0) || (nd->nin > 4 && IN(c, 4) && nst < 0))
                return NBAD(c, "axes/steps must be constant");
        }
        if (ns < 0 || ne != ns)
            return NBAD(c, "starts/ends must be constant and of equal length");
        if (na < 0) {
            na = ns;
            for (int i = 0; i < na; i++)
                axes[i] = i;
        }
        if (nst < 0) {
            nst = ns;
            for (int i = 0; i < ns; i++)
                steps[i] = 1;
        }
        if (na != ns || nst != ns)
            return NBAD(c, "starts/ends/axes/steps lengths differ");
        int64_t od[NN_MAX_RANK];
        for (int i = 0; i < x->rank; i++) {
            s->starts[i] = 0;
            s->steps_[i] = 1;
            od[i] = x->dims[i];
        }
        char seen[NN_MAX_RANK] = {0};
        for (int i = 0; i < ns; i++) {
            int a;
            if (norm_axis(axes[i], x->rank, &a) || seen[a])
                return NBAD(c, "invalid axes");
            seen[a] = 1;
            if (steps[i] < 1)
                return NBAD(c, "only positive steps are supported");
            int64_t dim = x->dims[a], b = starts[i], e = ends[i];
            if (b < 0)
                b += dim;
            if (e < 0)
                e += dim;
            b = b < 0 ? 0 : (b > dim ? dim : b);
            e = e < 0 ? 0 : (e > dim ? dim : e);
            int64_t len = e > b ? (e - b + steps[i] - 1) / steps[i] : 0;
            s->starts[a] = b;
            s->steps_[a] = steps[i];
            od[a] = len;
        }
        s->kind = S_SLICE;
        return shape_or_bad(c, OUT(c), x->dtype, x->rank, od);
    }
    if (strcmp(op, "Gather") == 0) {
        if ((st = need_inputs(c, 2, 2)) != FM_OK)
            return st;
        const val *x = IN(c, 0), *iv = IN(c, 1);
        int axis;
        if (x->rank < 1 || norm_axis(attr_i(nd, "axis", 0), x->rank, &axis))
            return NBAD(c, "axis out of range");
        if (!is_const(iv) || iv->dtype != DT_INT64 || iv->n > 4096)
            return NBAD(c, "indices must be a small constant integer tensor");
        if (x->rank - 1 + iv->rank > NN_MAX_RANK)
            return NBAD(c, "output rank too large");
        s->idx = malloc((iv->n ? iv->n : 1) * sizeof(int64_t));
        if (!s->idx)
            return fm_fail(c->ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
        s->nidx = iv->n;
        for (size_t i = 0; i < iv->n; i++) {
            int64_t v = ((int64_t *)iv->data)[i];
            if (v < 0)
                v += x->dims[axis];
            if (v < 0 || v >= x->dims[axis])
                return NBAD(c, "index %lld out of range", (long long)((int64_t *)iv->data)[i]);
            s->idx[i] = v;
        }
        int64_t od[NN_MAX_RANK];
        int r = 0;
        for (int i = 0; i < axis; i++)
            od[r++] = x->dims[i];
        for (int i = 0; i < iv->rank; i++)
            od[r++] = iv->dims[i];
        for (int i = axis + 1; i < x->rank; i++)
            od[r++] = x->dims[i];
        s->kind = S_GATHER;
        s->axis = axis;
        s->nin = 1;
        return shape_or_bad(c, OUT(c), x->dtype, r, od);
    }
    if (strcmp(op, "Softmax") == 0) {
        if ((st = need_inputs(c, 1, 1)) != FM_OK)
            return st;
        const val *x = IN(c, 0);
        if ((st = need_float(c, x)) != FM_OK)
            return st;
        int axis;
        if (norm_axis(attr_i(nd, "axis", m->opset < 13 ? 1 : -1), x->rank, &axis))
            return NBAD(c, "axis out of range");
        s->outer = prod(x->dims, 0, axis);
        if (m->opset < 13) { /* coerced to 2-D at axis */
            s->mid = prod(x->dims, axis, x->rank);
            s->inner = 1;
        } else {
            s->mid = (size_t)x->dims[axis];
            s->inner = prod(x->dims, axis + 1, x->rank);
        }
        s->kind = S_SOFTMAX;
        return shape_or_bad(c, OUT(c), DT_FLOAT, x->rank, x->dims);
    }
    if (strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0) {
        int gemm = op[0] == 'G';
        if ((st = need_inputs(c, 2, gemm ? 3 : 2)) != FM_OK)
            return st;
        const val *a = IN(c, 0), *b = IN(c, 1), *cv = gemm ? IN(c, 2) : NULL;
        if ((st = need_float(c, a)) != FM_OK)
            return st;
        if (!is_const(b) || b->dtype != DT_FLOAT || b->rank != 2)
            return NBAD(c, "B must be a constant float matrix");
        s->ta = gemm ? (int)attr_i(nd, "transA", 0) != 0 : 0;
        s->tb = gemm ? (int)attr_i(nd, "transB", 0) != 0 : 0;
        s->alpha = gemm ? attr_f(nd, "alpha", 1.0f) : 1.0f;
        s->beta = gemm ? attr_f(nd, "beta", 1.0f) : 1.0f;
        int64_t M, K;
        int64_t od[NN_MAX_RANK];
        int orank;
        if (gemm) {
            if (a->rank != 2)
                return NBAD(c, "A must be a matrix");
            M = s->ta ? a->dims[1] : a->dims[0];
            K = s->ta ? a->dims[0] : a->dims[1];
        } else {
            if (a->rank < 1)
                return NBAD(c, "A must have rank >= 1");
            if (prod(a->dims, 0, a->rank - 1) != (a->rank >= 2 ? (size_t)a->dims[a->rank - 2] : 1))
                return NBAD(c, "batched MatMul is not supported");
            M = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
            K = a->dims[a->rank - 1];
        }
        int64_t KB = s->tb ? b->dims[1] : b->dims[0], N = s->tb ? b->dims[0] : b->dims[1];
        if (K != KB)
            return NBAD(c, "inner dimensions differ (%lld vs %lld)", (long long)K, (long long)KB);
        if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
            return NBAD(c, "matrix too large");
        s->m = (int)M;
        s->n = (int)N;
        s->k = (int)K;
        s->b_data = b->data;
        s->c_mode = 0;
        if (cv) {
            if (!is_const(cv) || cv->dtype != DT_FLOAT)
                return NBAD(c, "C must be a constant float tensor");
            if (cv->n == 1)
                s->c_mode = 1;
            else if (cv->n == (size_t)N && cv->dims[cv->rank - 1] == N)
                s->c_mode = 2;
            else if (cv->n == (size_t)(M * N) && cv->rank == 2 && cv->dims[0] == M)
                s->c_mode = 3;
            else
                return NBAD(c, "C does not broadcast to [M, N]");
            s->c_data = cv->data;
        }
        if (gemm) {
            orank = 2;
            od[0] = M;
            od[1] = N;
        } else {
            orank = a->rank;
            memcpy(od, a->dims, sizeof od);
            od[orank - 1] = N;
        }
        s->kind = S_GEMM;
        s->nin = 1;
        return shape_or_bad(c, OUT(c), DT_FLOAT, orank, od);
    }
    if (strcmp(op, "BatchNormalization") == 0) {
        if ((st = need_inputs(c, 5, 5)) != FM_OK)
            return st;
        if (nd->nout > 1)
            return NBAD(c, "training-mode outputs are not supported");
        const val *x = IN(c, 0);
        if ((st = need_float(c, x)) != FM_OK)
            return st;
        if (x->rank < 2 || x->dims[0] != 1)
            return NBAD(c, "input must be 1xC[xHxW]");
        const float *p[4];
        for (int i = 0; i < 4; i++) {
            const val *v = IN(c, i + 1);
            if (!is_const(v) || v->dtype != DT_FLOAT || (int64_t)v->n != x->dims[1])
                return NBAD(c, "parameter %d must be a constant float [C] tensor", i + 1);
            p[i] = v->data;
        }
        s->channels = (int)x->dims[1];
        s->plane = prod(x->dims, 2, x->rank);
        s->scale = malloc((size_t)s->channels * sizeof(float));
        s->shift = malloc((size_t)s->channels * sizeof(float));
        if (!s->scale || !s->shift)
            return fm_fail(c->ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
        for (int i = 0; i < s->channels; i++)
            if (!(p[3][i] + attr_f(nd, "epsilon", 1e-5f) > 0))
                return NBAD(c, "variance + epsilon must be positive");
        nn_bn_to_affine(s->channels, p[0], p[1], p[2], p[3], attr_f(nd, "epsilon", 1e-5f), s->scale, s->shift);
        s->kind = S_AFFINE;
        s->nin = 1;
        return shape_or_bad(c, OUT(c), DT_FLOAT, x->rank, x->dims);
    }
    return NBAD(c, "unsupported op type");
}

/* ---- whole-graph compilation -------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static fm_status make_op_summary(fm_ctx *ctx, onnx_model *m)
{
    const char **ops = malloc((size_t)(m->nnodes ? m->nnodes : 1) * sizeof *ops);
    if (!ops)
        return NOMEM();
    for (int i = 0; i < m->nnodes; i++)
        ops[i] = m->nodes[i].op;
    qsort(ops, (size_t)m->nnodes, sizeof *ops, cmp_str);
    size_t cap = 64;
    for (int i = 0; i < m->nnodes; i++)
        cap += strlen(ops[i]) + 12;
    m->op_summary = malloc(cap);
    if (!m->op_summary) {
        free(ops);
        return NOMEM();
    }
    size_t len = 0;
    m->op_summary[0] = 0;
    for (int i = 0; i < m->nnodes;) {
        int j = i;
        while (j < m->nnodes && strcmp(ops[j], ops[i]) == 0)
            j++;
        len += (size_t)snprintf(m->op_summary + len, cap - len, "%s%s:%d", len ? "," : "", ops[i], j - i);
        i = j;
    }
    free(ops);
    return FM_OK;
}

/* Evaluates a step whose inputs are all constants, making its output a constant. */
static fm_status fold_step(fm_ctx *ctx, onnx_model *m, step *s)
{
    val *o = &m->vals[s->out];
    size_t es = o->dtype == DT_INT64 ? 8 : 4;
    if (o->dtype == DT_INT64 && s->kind != S_CONCAT && s->kind != S_SLICE && s->kind != S_GATHER)
        return BAD("integer arithmetic on '%s' is not supported", o->name);
    xio io = {{0}, NULL, NULL, 1};
    for (int i = 0; i < s->nin; i++)
        io.in[i] = s->in[i] >= 0 ? m->vals[s->in[i]].data : NULL;
    size_t sn = s->kind == S_CONV ? nn_conv_scratch(&s->conv, (int)m->vals[s->in[0]].dims[2],
                                                    (int)m->vals[s->in[0]].dims[3], 1)
                                  : 0;
    io.out = malloc(o->n * es + 8);
    io.scratch = malloc(sn * sizeof(float) + 8);
    if (!io.out || !io.scratch) {
        free(io.out);
        free(io.scratch);
        return NOMEM();
    }
    exec_step(m, s, &io);
    free(io.scratch);
    o->data = io.out;
    o->kind = V_CONST;
    return FM_OK;
}

static fm_status compile(fm_ctx *ctx, onnx_model *m)
{
    fm_status st = make_op_summary(ctx, m);
    if (st != FM_OK)
        return st;
    /* consumer counts and graph outputs */
    for (int i = 0; i < m->nnodes; i++)
        for (int j = 0; j < m->nodes[i].nin; j++)
            if (m->nodes[i].in[j] >= 0)
                m->vals[m->nodes[i].in[j]].consumers++;
    for (int i = 0; i < m->noutputs; i++)
        m->vals[m->outputs[i]].is_output = 1;
    m->steps = calloc((size_t)(m->nnodes ? m->nnodes : 1), sizeof *m->steps);
    if (!m->steps)
        return NOMEM();
    int *producer = malloc((size_t)m->nvals * sizeof *producer); /* step index producing a runtime value */
    if (!producer)
        return NOMEM();
    for (int i = 0; i < m->nvals; i++)
        producer[i] = -1;
    for (int ni = 0; ni < m->nnodes && st == FM_OK; ni++) {
        const rnode *nd = &m->nodes[ni];
        cc c = {ctx, m, nd, ni};
        /* every input must be defined already (ONNX graphs are topologically sorted) */
        int all_const = 1;
        for (int j = 0; j < nd->nin; j++) {
            if (nd->in[j] < 0)
                continue;
            const val *v = &m->vals[nd->in[j]];
            if (v->kind == V_UNDEF) {
                st = NBAD(&c, "input '%s' is not defined before use", v->name);
                break;
            }
            if (v->kind != V_CONST)
                all_const = 0;
        }
        if (st != FM_OK)
            break;
        step *s = &m->steps[m->nsteps];
        memset(s, 0, sizeof *s);
        int alias_only = 0;
        st = build_node(&c, s, &alias_only);
        if (st != FM_OK) {
            step_free(s);
            break;
        }
        if (alias_only) { /* no step (reshape, shape, constants) */
            step_free(s);
            continue;
        }
        if (all_const) {
            st = fold_step(ctx, m, s);
            step_free(s);
            continue;
        }
        val *o = &m->vals[s->out];
        o->kind = V_RUNTIME;
        if (o->dtype != DT_FLOAT) {
            st = NBAD(&c, "integer tensors at run time (dynamic shapes) are not supported");
            step_free(s);
            break;
        }
        /* fusion into a preceding Conv whose output only feeds this node */
        if ((s->kind == S_AFFINE || s->kind == S_ACT) && s->in[0] >= 0) {
            val *x = &m->vals[s->in[0]];
            int p = producer[s->in[0]];
            if (p >= 0 && m->steps[p].kind == S_CONV && x->consumers == 1 && !x->is_output &&
                m->steps[p].conv.act.kind == NN_ACT_NONE && x->alias == s->in[0]) {
                step *cs = &m->steps[p];
                int fused = 1;
                if (s->kind == S_AFFINE) {
                    nn_conv_fold_affine(&cs->conv, s->scale, s->shift);
                } else if (s->act.kind != NN_ACT_PRELU || s->act.slope_n == 1 || s->act.slope_n == cs->conv.d.out_c) {
                    st = nn_conv_set_act(&cs->conv, &s->act, ctx);
                } else {
                    fused = 0;
                }
                if (st != FM_OK) {
                    step_free(s);
                    break;
                }
                if (fused) {
                    cs->out = s->out;
                    producer[s->out] = p;
                    x->kind = V_CONST; /* dead intermediate: never allocated */
                    x->data = NULL;
                    step_free(s);
                    continue;
                }
            }
        }
        producer[s->out] = m->nsteps;
        m->nsteps++;
    }
    free(producer);
    if (st != FM_OK)
        return st;
    for (int i = 0; i < m->noutputs; i++) {
        const val *o = &m->vals[m->outputs[i]];
        if (o->kind == V_UNDEF)
            return BAD("graph output '%s' is never produced", o->name);
        if (o->dtype != DT_FLOAT)
            return BAD("graph output '%s' is not float", o->name);
    }
    /* lifetimes: the step range over which each buffer owner is live (input: from step -1 -> 0) */
    val *in = &m->vals[m->input];
    in->first = 0;
    in->last = 0;
    for (int si = 0; si < m->nsteps; si++) {
        const step *s = &m->steps[si];
        val *o = &m->vals[m->vals[s->out].alias];
        if (o->first < 0)
            o->first = si;
        if (o->last < si)
            o->last = si;
        for (int j = 0; j < s->nin; j++) {
            if (s->in[j] < 0 || m->vals[s->in[j]].kind == V_CONST)
                continue;
            val *r = &m->vals[m->vals[s->in[j]].alias];
            if (r->last < si)
                r->last = si;
            if (r->first < 0)
                r->first = si;
        }
    }
    for (int i = 0; i < m->noutputs; i++) {
        val *o = &m->vals[m->outputs[i]];
        if (o->kind == V_CONST)
            continue;
        val *r = &m->vals[o->alias];
        r->last = m->nsteps;
        if (r->first < 0)
            r->first = 0;
    }
    nn_plan_init(&m->plan);
    for (int i = 0; i < m->nvals; i++) {
        val *v = &m->vals[i];
        if ((v->kind == V_RUNTIME || v->kind == V_INPUT) && v->alias == i && v->first >= 0) {
            v->buf = nn_plan_add(&m->plan, v->n, v->first, v->last);
            if (v->buf < 0)
                return BAD("tensor '%s' is too large", v->name);
        }
    }
    if ((st = nn_plan_finish(&m->plan, ctx)) != FM_OK)
        return st;
    m->scratch_floats = 0;
    for (int si = 0; si < m->nsteps; si++) {
        const step *s = &m->steps[si];
        if (s->kind == S_CONV) {
            const val *x = &m->vals[s->in[0]];
            size_t n = nn_conv_scratch(&s->conv, (int)x->dims[2], (int)x->dims[3], 1);
            if (n > m->scratch_floats)
                m->scratch_floats = n;
        }
    }
    if (m->scratch_floats > NN_MAX_ELEMS)
        return BAD("convolution scratch too large");
    return FM_OK;
}

/* ============================================================================================================ */
/* Public functions                                                                                              */
/* ============================================================================================================ */

fm_status onnx_model_load(fm_ctx *ctx, const void *data, size_t len, onnx_model **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: out is NULL");
    *out = NULL;
    if (!data && len)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: data is NULL");
    int64_t lim = ctx ? fm_ctx_get(ctx, FM_PARAM_MAX_MODEL_BYTES) : (int64_t)256 << 20;
    if (lim > 0 && (uint64_t)len > (uint64_t)lim)
        return fm_fail(ctx, FM_ERR_LIMIT, "onnx: model of %zu bytes exceeds the %lld-byte limit", len, (long long)lim);
    if (len == 0)
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "onnx: empty model file");
    onnx_model *m = calloc(1, sizeof *m);
    if (!m)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
    fm_status st = parse_model(ctx, m, data, len);
    if (st == FM_OK)
        st = compile(ctx, m);
    if (st != FM_OK) {
        onnx_model_free(m);
        return st;
    }
    *out = m;
    return FM_OK;
}

fm_status onnx_model_load_file(fm_ctx *ctx, const char *path, onnx_model **out)
{
    if (!out || !path)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: NULL argument");
    *out = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int64_t lim = ctx ? fm_ctx_get(ctx, FM_PARAM_MAX_MODEL_BYTES) : (int64_t)256 << 20;
    fm_status st = fm_read_file(ctx, path, lim, &data, &len);
    if (st != FM_OK)
        return st;
    st = onnx_model_load(ctx, data, len, out);
    free(data);
    if (st != FM_OK && ctx) {
        char msg[FM_ERRMSG_CAP];
        snprintf(msg, sizeof msg, "%s", fm_ctx_errmsg(ctx));
        fm_fail(ctx, st, "%s: %s", path, msg);
    }
    return st;
}

int onnx_model_input_rank(const onnx_model *m) { return m->vals[m->input].rank; }
const int64_t *onnx_model_input_dims(const onnx_model *m) { return m->vals[m->input].dims; }
size_t onnx_model_input_size(const onnx_model *m) { return m->vals[m->input].n; }
const char *onnx_model_input_name(const onnx_model *m) { return m->vals[m->input].name; }
int onnx_model_num_outputs(const onnx_model *m) { return m->noutputs; }
const char *onnx_model_output_name(const onnx_model *m, int i) { return m->vals[m->outputs[i]].name; }
int onnx_model_output_rank(const onnx_model *m, int i) { return m->vals[m->outputs[i]].rank; }
const int64_t *onnx_model_output_dims(const onnx_model *m, int i) { return m->vals[m->outputs[i]].dims; }
size_t onnx_model_output_size(const onnx_model *m, int i) { return m->vals[m->outputs[i]].n; }
int64_t onnx_model_opset(const onnx_model *m) { return m->opset; }
const char *onnx_model_op_summary(const onnx_model *m) { return m->op_summary; }
int onnx_model_num_steps(const onnx_model *m) { return m->nsteps; }
size_t onnx_model_scratch(const onnx_model *m) { return m->plan.total + m->scratch_floats; }

void onnx_model_set_isa(onnx_model *m, int isa)
{
    size_t sc = 0;
    for (int si = 0; si < m->nsteps; si++) {
        step *s = &m->steps[si];
        if (s->kind == S_CONV) {
            nn_conv_set_isa(&s->conv, isa);
            const val *x = &m->vals[s->in[0]];
            size_t n = nn_conv_scratch(&s->conv, (int)x->dims[2], (int)x->dims[3], 1);
            sc = n > sc ? n : sc;
        }
    }
    if (sc > m->scratch_floats) /* im2col scratch does not depend on the instruction set; kept safe anyway */
        m->scratch_floats = sc;
}

static const void *value_ptr(const onnx_model *m, float *base, int v)
{
    const val *x = &m->vals[v];
    if (x->kind == V_CONST)
        return x->data;
    return nn_plan_ptr(&m->plan, base, m->vals[x->alias].buf);
}

float *onnx_input_ptr(fm_ctx *ctx, const onnx_model *m, nn_arena *arena)
{
    if (!m || !arena) {
        fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: NULL argument");
        return NULL;
    }
    if (nn_arena_reserve(arena, m->plan.total + m->scratch_floats, ctx) != FM_OK)
        return NULL;
    const val *in = &m->vals[m->input];
    return in->buf >= 0 ? nn_plan_ptr(&m->plan, arena->base, in->buf) : NULL;
}

fm_status onnx_run(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const float *input, float *const *outputs,
                   int threads)
{
    if (!m || !arena || !input)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: NULL argument");
    if (threads < 1)
        threads = 1;
    fm_status st = nn_arena_reserve(arena, m->plan.total + m->scratch_floats, ctx);
    if (st != FM_OK)
        return st;
    float *base = arena->base;
    const val *in = &m->vals[m->input];
    if (in->buf >= 0 && nn_plan_ptr(&m->plan, base, in->buf) != input)
        memcpy(nn_plan_ptr(&m->plan, base, in->buf), input, in->n * sizeof(float));
    float *scratch = base + m->plan.total;
    for (int si = 0; si < m->nsteps; si++) {
        const step *s = &m->steps[si];
        xio io = {{0}, NULL, scratch, threads};
        for (int j = 0; j < s->nin; j++)
            io.in[j] = s->in[j] >= 0 ? value_ptr(m, base, s->in[j]) : NULL;
        io.out = (void *)value_ptr(m, base, s->out);
        exec_step(m, s, &io);
    }
    for (int i = 0; i < m->noutputs; i++) {
        if (!outputs || !outputs[i])
            continue;
        int v = m->outputs[i];
        const void *src = v == m->input ? (const void *)input : value_ptr(m, base, v);
        memcpy(outputs[i], src, m->vals[v].n * sizeof(float));
    }
    return FM_OK;
}
