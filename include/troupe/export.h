/** @file
 * troupe: symbol visibility. The library builds with hidden visibility;
 * TR_API marks the functions that form the public ABI. */
#ifndef TROUPE_EXPORT_H
#define TROUPE_EXPORT_H

#if defined(TROUPE_BUILDING) && defined(__GNUC__)
#define TR_API __attribute__((visibility("default")))
#else
#define TR_API
#endif

#endif
