/*  gzctl: what the command's files share.  */
#ifndef GZCTL_H_INCLUDED
#define GZCTL_H_INCLUDED

#include <stdbool.h>

#include "gz_db.h"

//  gzctl.c: print the usage; returns 2.
int gzctl_usage (void);
//  gzctl.c: a connected handle (the org schema migrated when asked), or
//  NULL (reported).
gz_db_t *gzctl_connect (bool migrate);

//  gzctl_notify.c: gzctl notify dead|retry.
int gzctl_notify (int argc, char **argv);

//  gzctl_match.c: gzctl match solve.
int gzctl_match (int argc, char **argv);

//  gzctl_volunteers.c: gzctl volunteers import FILE.csv.
int gzctl_volunteers (int argc, char **argv);

//  gzctl_report.c: gzctl report monthly.
int gzctl_report (int argc, char **argv);

//  gzctl_analytics.c: gzctl analytics rebuild|verify.
int gzctl_analytics (int argc, char **argv);

#endif
