/* placeholder, filled by the supervisor step */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H
#endif
