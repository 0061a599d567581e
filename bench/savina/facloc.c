/* Savina's facloc (online facility location) as plain actors: a quadtree
 * of quadrant actors. A quadrant keeps its customers and their cost to the
 * nearest known facility; past a threshold it opens a facility (its
 * midpoint), splits into four children and tells its parent, which tells
 * the sibling opposite. A producer sends customers one at a time; the root
 * asks for the next after each. At the end every leaf reports its
 * customers up the tree. */
#include <math.h>

#include "savina.h"

enum { T_CUSTOMER = 1, T_NEXT, T_FACILITY, T_REQEXIT, T_CONFIRM };
enum { POS_UNKNOWN = -2, POS_ROOT = -1, TOP_LEFT, TOP_RIGHT, BOT_LEFT, BOT_RIGHT };

typedef struct { double x, y; } pt;
typedef struct { double x1, y1, x2, y2; } box;
typedef struct { pt *v; size_t n, cap; } pts;

static bool box_has(box b, pt p) { return b.x1 <= p.x && b.y1 <= p.y && p.x <= b.x2 && p.y <= b.y2; }

static bool pts_add(pts *s, pt p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        pt *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = p;
    return true;
}

typedef struct { int pos, depth; pt p; bool from_child; } fac_msg;
typedef struct { tr_actor *producer; pt p; } cust_msg;
typedef struct { int64_t facilities, customers; } confirm_msg;

typedef struct {
    sv_ctx *c;
    tr_actor *parent; /* held: released on stop */
    int pos, depth, max_depth, confirmed;
    box bound;
    double threshold, cost;
    pt facility;
    pts facilities, customers;
    int64_t known, child_facilities, child_customers;
    tr_actor *child[4]; /* held: released on stop */
    box child_bound[4];
    confirm_msg *result; /* the root's, read by the main thread */
} quad_st;

static void quad_stop(tr_actor *self, void *state)
{
    (void)self;
    quad_st *s = state;
    free(s->facilities.v);
    free(s->customers.v);
    for (int i = 0; i < 4; i++)
        if (s->child[i])
            tr_actor_release(s->child[i]);
    if (s->parent)
        tr_actor_release(s->parent);
}

static void add_customer(quad_st *s, pt p)
{
    if (!pts_add(&s->customers, p)) {
        bench_done_fail(&s->c->done, "facloc: out of memory");
        return;
    }
    double best = INFINITY;
    for (size_t i = 0; i < s->facilities.n; i++) {
        double dx = s->facilities.v[i].x - p.x, dy = s->facilities.v[i].y - p.y;
        double d = sqrt(dx * dx + dy * dy);
        best = d < best ? d : best;
    }
    s->cost += best;
}

static void quad_beh(tr_actor *self, void *state, tr_msg *m);

/* A facility for a child that may have exited already (it went down while
 * a grandchild's news travelled up): then nobody needs it. */
static void tell_facility(sv_ctx *c, tr_actor *to, const fac_msg *f)
{
    tr_msg *m = tr_msg_new(T_FACILITY, sizeof *f);
    if (!m) {
        bench_done_fail(&c->done, "facloc: out of memory");
        return;
    }
    *(fac_msg *)tr_msg_data(m) = *f;
    int rv = tr_send(to, m);
    if (rv) {
        tr_msg_free(m);
        if (rv != TR_ESTOPPED)
            bench_done_fail(&c->done, "facloc: tr_send: %s", tr_strerror(rv));
    }
}

/* A quadrant below `parent` (NULL: the root) with copies of what it knows. */
static tr_actor *quad_new(sv_ctx *c, tr_actor *parent, int pos, box b, double threshold,
                          int depth, const pts *facilities, int64_t known, int max_depth,
                          const pts *customers)
{
    tr_actor *a = sv_spawn_stop(c, quad_beh, quad_stop, sizeof(quad_st));
    if (!a)
        return NULL;
    quad_st *s = tr_actor_state(a);
    *s = (quad_st){.c = c, .parent = parent, .pos = pos, .depth = depth, .max_depth = max_depth,
                   .bound = b, .threshold = threshold, .known = known,
                   .facility = {(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2}};
    if (parent)
        tr_actor_retain(parent);
    bool ok = true;
    for (size_t i = 0; facilities && i < facilities->n; i++)
        ok &= pts_add(&s->facilities, facilities->v[i]);
    ok &= pts_add(&s->facilities, s->facility);
    for (size_t i = 0; customers && i < customers->n; i++)
        if (box_has(b, customers->v[i]))
            add_customer(s, customers->v[i]);
    if (!ok)
        bench_done_fail(&c->done, "facloc: out of memory");
    return a;
}

static void notify_parent(quad_st *s, pt p, int depth)
{
    if (s->parent)
        sv_tell(s->c, s->parent, T_FACILITY, &(fac_msg){s->pos, depth, p, true}, sizeof(fac_msg));
}

static void partition(tr_actor *self, quad_st *s)
{
    notify_parent(s, s->facility, s->depth);
    s->max_depth = s->max_depth > s->depth ? s->max_depth : s->depth;
    pt f = s->facility;
    box b = s->bound;
    s->child_bound[TOP_LEFT] = (box){b.x1, f.y, f.x, b.y2};
    s->child_bound[TOP_RIGHT] = (box){f.x, f.y, b.x2, b.y2};
    s->child_bound[BOT_LEFT] = (box){b.x1, b.y1, f.x, f.y};
    s->child_bound[BOT_RIGHT] = (box){f.x, b.y1, b.x2, f.y};
    /* Each customer to the first child that contains it, as new ones are
     * routed (Savina's copy gives a point on a midline to two children). */
    pts part[4] = {{0}};
    for (size_t k = 0; k < s->customers.n; k++)
        for (int i = 0; i < 4; i++)
            if (box_has(s->child_bound[i], s->customers.v[k])) {
                if (!pts_add(&part[i], s->customers.v[k]))
                    bench_done_fail(&s->c->done, "facloc: out of memory");
                break;
            }
    for (int i = 0; i < 4; i++) {
        s->child[i] = quad_new(s->c, self, i, s->child_bound[i], s->threshold, s->depth + 1,
                               &s->facilities, s->known, s->max_depth, &part[i]);
        free(part[i].v);
    }
    s->customers.n = 0;
}

static void safely_exit(tr_actor *self, quad_st *s)
{
    bool open = s->child[0] != NULL;
    confirm_msg r = {s->child_facilities + (open || !s->parent ? 1 : 0),
                     s->child_customers + (int64_t)s->customers.n};
    if (s->parent) {
        sv_tell(s->c, s->parent, T_CONFIRM, &r, sizeof r);
    } else {
        *s->result = r;
        bench_done_signal(&s->c->done);
    }
    tr_actor_stop(self);
}

static void quad_beh(tr_actor *self, void *state, tr_msg *m)
{
    quad_st *s = state;
    bool open = s->child[0] != NULL;
    if (m->tag == T_CUSTOMER) {
        cust_msg *x = tr_msg_data(m);
        tr_actor *producer = x->producer;
        if (!open) {
            add_customer(s, x->p);
            if (s->cost > s->threshold)
                partition(self, s);
        } else {
            for (int i = 0; i < 4; i++)
                if (box_has(s->child_bound[i], x->p)) {
                    sv_tell(s->c, s->child[i], T_CUSTOMER, x, sizeof *x);
                    break;
                }
        }
        if (s->parent) {
            tr_msg_free(m);
        } else { /* the root asks for the next customer */
            m->tag = T_NEXT;
            bench_send(producer, m, &s->c->done);
        }
        return;
    }
    if (m->tag == T_FACILITY) {
        fac_msg x = *(fac_msg *)tr_msg_data(m);
        s->known++;
        if (!pts_add(&s->facilities, x.p))
            bench_done_fail(&s->c->done, "facloc: out of memory");
        if (x.from_child) {
            notify_parent(s, x.p, x.depth);
            s->max_depth = x.depth > s->max_depth ? x.depth : s->max_depth;
            static const int opposite[4] = {BOT_RIGHT, BOT_LEFT, TOP_RIGHT, TOP_LEFT};
            int sib = x.pos >= 0 && x.pos < 4 ? opposite[x.pos] : TOP_RIGHT;
            tell_facility(s->c, s->child[sib], &(fac_msg){POS_UNKNOWN, s->depth, x.p, false});
        } else if (open) {
            for (int i = 0; i < 4; i++)
                tell_facility(s->c, s->child[i], &(fac_msg){POS_UNKNOWN, s->depth, x.p, false});
        }
    } else if (m->tag == T_REQEXIT) {
        if (open)
            for (int i = 0; i < 4; i++)
                sv_tell(s->c, s->child[i], T_REQEXIT, NULL, 0);
        else
            safely_exit(self, s);
    } else { /* T_CONFIRM */
        confirm_msg *x = tr_msg_data(m);
        s->child_facilities += x->facilities;
        s->child_customers += x->customers;
        if (++s->confirmed == 4)
            safely_exit(self, s);
    }
    tr_msg_free(m);
}

typedef struct { sv_ctx *c; tr_actor *root; int64_t n, made; sv_rand r; double grid; } fprod_st;

static void fprod_beh(tr_actor *self, void *state, tr_msg *m)
{
    fprod_st *s = state;
    tr_msg_free(m);
    if (s->made == s->n) {
        sv_tell(s->c, s->root, T_REQEXIT, NULL, 0);
        tr_actor_stop(self);
        return;
    }
    double x = sv_next_double(&s->r) * s->grid, y = sv_next_double(&s->r) * s->grid;
    sv_tell(s->c, s->root, T_CUSTOMER, &(cust_msg){self, {x, y}}, sizeof(cust_msg));
    s->made++;
}

int sv_facloc(sv_ctx *c)
{
    int64_t n = SV_P(c, 100000, 10000);
    double grid = 500.0, alpha = 2.0, threshold = alpha * sqrt(2) * grid;
    sv_param(c, "n=%lld,g=500,a=2", (long long)n);
    confirm_msg result = {-1, -1};
    tr_actor *root = quad_new(c, NULL, POS_ROOT, (box){0, 0, grid, grid}, threshold, 0, NULL, 1,
                              -1, NULL);
    tr_actor *prod = root ? sv_spawn(c, fprod_beh, sizeof(fprod_st)) : NULL;
    int rv = prod ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK) {
        ((quad_st *)tr_actor_state(root))->result = &result;
        /* CAF's suite never seeds its generator: its default seed */
        *(fprod_st *)tr_actor_state(prod) = (fprod_st){c, root, n, 0, sv_rand_seed(74755), grid};
        sv_tell(c, prod, T_NEXT, NULL, 0);
        rv = sv_wait(c, "the root's exit");
    }
    if (rv == BENCH_OK) {
        bench_note("facloc: %lld facilities, %lld customers", (long long)result.facilities,
                   (long long)result.customers);
        if (result.customers != n || result.facilities < 1)
            rv = sv_fail(c, "%lld customers placed (%lld facilities), expected %lld",
                         (long long)result.customers, (long long)result.facilities,
                         (long long)n);
    }
    if (prod)
        tr_actor_release(prod);
    if (root)
        tr_actor_release(root);
    return rv;
}
