/* SPDX-License-Identifier: MIT */
/*
 * claims.c: the claims set of a JSON Web Token (see claims.h), read with
 * jansson.
 */
#include "auth/claims.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* NumericDate values beyond this are refused rather than risk overflow:
 * 2^53, where a JSON number stops being exact. */
#define CLAIMS_MAX_TIME 9007199254740992.0

static int claims_fail(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return -1;
}

/* A NumericDate (RFC 7519): seconds, an integer or a real (floored). */
static int claims_time(const json_t *value, int64_t *out)
{
    if (json_is_integer(value)) {
        json_int_t seconds = json_integer_value(value);
        if (seconds < -(json_int_t)CLAIMS_MAX_TIME || seconds > (json_int_t)CLAIMS_MAX_TIME)
            return -1;
        *out = (int64_t)seconds;
        return 0;
    }
    if (!json_is_real(value))
        return -1;
    double seconds = floor(json_real_value(value));
    if (!isfinite(seconds) || fabs(seconds) > CLAIMS_MAX_TIME)
        return -1;
    *out = (int64_t)seconds;
    return 0;
}

/* `exp` required and in the future, `nbf` (optional) not beyond the
 * leeway. */
static int claims_check_times(const json_t *root, int64_t now, int64_t *exp, const char **why)
{
    const json_t *exp_value = json_object_get(root, "exp");
    if (exp_value == NULL)
        return claims_fail(why, "token has no exp");
    if (claims_time(exp_value, exp) != 0)
        return claims_fail(why, "token exp is not a number of seconds");
    if (now >= *exp)
        return claims_fail(why, "token expired");
    const json_t *nbf_value = json_object_get(root, "nbf");
    int64_t nbf = 0;
    if (nbf_value != NULL && claims_time(nbf_value, &nbf) != 0)
        return claims_fail(why, "token nbf is not a number of seconds");
    if (nbf_value != NULL && nbf > now + CLAIMS_NBF_LEEWAY)
        return claims_fail(why, "token not valid yet (nbf)");
    return 0;
}

static int claims_read_sub(const json_t *root, struct claims *out, const char **why)
{
    const json_t *sub = json_object_get(root, "sub");
    if (sub == NULL)
        return 0;
    if (!json_is_string(sub) || json_string_length(sub) == 0)
        return claims_fail(why, "token sub is not a non-empty string");
    if (json_string_length(sub) > CLAIMS_MAX_SUB)
        return claims_fail(why, "token sub is longer than 255 bytes");
    if ((out->sub = strdup(json_string_value(sub))) == NULL)
        return claims_fail(why, "out of memory");
    return 0;
}

/* Reads the array of patterns `name` ("subscribe" or "publish"); absent is
 * an empty list. */
static int claims_read_grants(const json_t *root, const char *name, struct grant_list *list,
                              const char **why)
{
    const json_t *array = json_object_get(root, name);
    if (array == NULL)
        return 0;
    if (!json_is_array(array))
        return claims_fail(why, "token subscribe or publish is not an array of patterns");
    if (json_array_size(array) > CLAIMS_MAX_GRANTS)
        return claims_fail(why, "token subscribe or publish has more than 64 patterns");
    size_t index;
    const json_t *item;
    json_array_foreach(array, index, item)
    {
        if (!json_is_string(item) || grants_template_valid(json_string_value(item), NULL) != 0)
            return claims_fail(why, "token subscribe or publish holds an invalid pattern");
        if (grant_list_append(list, json_string_value(item)) != 0)
            return claims_fail(why, "out of memory");
    }
    return 0;
}

static int claims_read(const json_t *root, int64_t now, struct claims *out, const char **why)
{
    if (!json_is_object(root))
        return claims_fail(why, "token claims are not a JSON object");
    if (claims_check_times(root, now, &out->exp, why) != 0 ||
        claims_read_sub(root, out, why) != 0 ||
        claims_read_grants(root, "subscribe", &out->subscribe, why) != 0 ||
        claims_read_grants(root, "publish", &out->publish, why) != 0)
        return -1;
    return 0;
}

int claims_parse(const char *json, size_t len, int64_t now, struct claims *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    /* Duplicate claims are refused: which one counts would depend on the
     * parser, and the issuer's and the broker's could differ. */
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL)
        return claims_fail(why, "token claims are not valid JSON");
    int rc = claims_read(root, now, out, why);
    json_decref(root);
    if (rc != 0)
        claims_free(out);
    return rc;
}

void claims_free(struct claims *c)
{
    free(c->sub);
    grant_list_free(&c->subscribe);
    grant_list_free(&c->publish);
    memset(c, 0, sizeof(*c));
}
