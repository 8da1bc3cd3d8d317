/*  gz_category: the request categories (Open311 service codes) shared by
    intake (what residents may file) and routing (how each is handled).

    Codes are stable ASCII identifiers; names are Simplified Chinese for
    people. Some categories carry Open311 attributes (metadata=true).  */
#ifndef GZ_CATEGORY_H_INCLUDED
#define GZ_CATEGORY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *key;  //  value sent, e.g. "water"
    const char *name; //  shown, e.g. "供水"
} gz_attr_value_t;

typedef struct {
    const char *code;     //  e.g. "utility_type"
    const char *datatype; //  string | number | singlevaluelist | text
    bool required;
    const char *description;       //  Chinese prompt
    const gz_attr_value_t *values; //  for singlevaluelist, ends with {NULL, NULL}
} gz_attr_t;

typedef struct {
    const char *code;        //  Open311 service_code, e.g. "sanitation"
    const char *name;        //  Chinese name, e.g. "环境卫生"
    const char *description; //  Chinese one-liner
    const char *group;       //  Open311 group (English, stable)
    const char *keywords;    //  comma-separated, Chinese
    const gz_attr_t *attrs;  //  NULL-code terminated, or NULL when none
} gz_category_t;

//  All categories, in display order; *count_p gets the number.
const gz_category_t *gz_category_all (size_t *count_p);

//  The category with this code, or NULL.
const gz_category_t *gz_category_find (const char *code);

//  Number of attributes of a category (0 when none).
size_t gz_category_attr_count (const gz_category_t *cat);

#endif
