/* Message blocks for remote tells, handed back from the I/O thread to the
 * callers instead of freed.
 *
 * A remote tell is allocated on the caller's thread and freed on the I/O
 * thread once encoded. jemalloc serves that pattern from its slow paths on
 * both sides (the caller's cache is always empty, the I/O thread's always
 * full): about 300 of remote_throughput's ~1030 instructions a tell went to
 * mallocx and sdallocx (bench/cg_per_op.sh). Tells whose message fits
 * TRI_BLOCK_PAYLOAD bytes are made in blocks of exactly that size; the I/O
 * thread puts a written one in this ring and the next caller takes it
 * back, one CAS instead of both slow paths. A block is an ordinary
 * message of that size (tr_msg_free frees it), so every other path that
 * drops a tell needs nothing new.
 *
 * The ring is Vyukov's bounded queue with one producer: each slot carries
 * a sequence number that says whose turn it is (the producer's when it
 * equals the position, a consumer's when it is one more).
 *
 *   operation   threads          may run concurrently with
 *   take        any              take, give
 *   give        the I/O thread   take
 *   init, destroy  one           nothing
 */
#ifndef TRI_REMOTE_BLOCKS_H
#define TRI_REMOTE_BLOCKS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"

/* 192: a tell with up to ~100 bytes of argument (remote_throughput's 64 B
 * payload makes a 104-byte message). */
#define TRI_BLOCK_PAYLOAD 192u
#define TRI_BLOCKS 1024u /* kept at most: 216 KiB a service */

typedef struct tri_block_slot {
    _Atomic uint64_t seq;
    tr_msg *m;
} tri_block_slot;

typedef struct tri_blocks {
    alignas(64) _Atomic uint64_t head; /* the next to take (callers, CAS) */
    alignas(64) uint64_t tail;         /* the next to give (the I/O thread's) */
    alignas(64) tri_block_slot slots[TRI_BLOCKS];
} tri_blocks;

void tri_blocks_init(tri_blocks *b);

/* Any thread: a kept block (tag and contents unset, size
 * TRI_BLOCK_PAYLOAD), or NULL when none is kept. */
tr_msg *tri_blocks_take(tri_blocks *b);

/* The I/O thread, for a tell it is done with: keeps m when it is a block
 * (a plain TRI_BLOCK_PAYLOAD-byte message) and there is room; else frees
 * it. */
void tri_blocks_give(tri_blocks *b, tr_msg *m);

/* Frees every kept block. Nothing else may run. */
void tri_blocks_destroy(tri_blocks *b);

#endif
