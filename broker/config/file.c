/* SPDX-License-Identifier: MIT */
/*
 * file.c: the JSON config file (see file.h), read with jansson.
 */
#include "config/file.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config/options.h"

static const char *json_kind_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown type";
}

/* A `topic_rules` object, kept in its text form (config/topic_rules.h). */
static int option_append_rule(struct config *cfg, const struct option_spec *spec,
                              const char *subject, size_t index, const json_t *item, char *err,
                              size_t errlen)
{
    char text[TOPIC_MAX_LEN + 256], why[256];
    struct topic_rule rule;
    if (topic_rule_text_of_json(item, text, sizeof(text), why, sizeof(why)) != 0 ||
        topic_rule_parse(&rule, text, why, sizeof(why)) != 0)
        return config_fail(err, errlen, "%s[%zu]: %s", subject, index, why);
    return option_append(cfg, spec, subject, text, err, errlen);
}

static int option_apply_json_list(struct config *cfg, const struct option_spec *spec,
                                  const char *subject, const json_t *value, char *err,
                                  size_t errlen)
{
    if (!json_is_array(value))
        return config_fail(err, errlen, "%s: expected an array of strings, got %s", subject,
                           json_kind_name(value));
    config_list_clear(option_list(cfg, spec));
    size_t index;
    const json_t *item;
    json_array_foreach(value, index, item)
    {
        if (json_is_object(item) && option_list(cfg, spec) == &cfg->topic_rule) {
            if (option_append_rule(cfg, spec, subject, index, item, err, errlen) != 0)
                return -1;
            continue;
        }
        if (!json_is_string(item))
            return config_fail(err, errlen, "%s[%zu]: expected a string, got %s", subject, index,
                               json_kind_name(item));
        if (option_append(cfg, spec, subject, json_string_value(item), err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int option_apply_json_number(struct config *cfg, const struct option_spec *spec,
                                    const char *subject, const json_t *value, char *err,
                                    size_t errlen)
{
    char range[64];
    option_describe_range(spec, range, sizeof(range));
    if (!json_is_integer(value))
        return config_fail(err, errlen, "%s: expected an integer %s, got %s", subject, range,
                           json_kind_name(value));
    json_int_t number = json_integer_value(value);
    if (number < spec->min || number > spec->max)
        return config_fail(err, errlen, "%s: expected an integer %s, got %" JSON_INTEGER_FORMAT,
                           subject, range, number);
    option_store_number(cfg, spec, (long)number);
    return 0;
}

static int option_apply_json(struct config *cfg, const struct option_spec *spec, const char *path,
                             const json_t *value, char *err, size_t errlen)
{
    char subject[SUBJECT_MAX];
    snprintf(subject, sizeof(subject), "%s: %s", path, spec->key);
    switch (spec->kind) {
    case OPTION_STRING:
        if (!json_is_string(value))
            return config_fail(err, errlen, "%s: expected a string, got %s", subject,
                               json_kind_name(value));
        return option_store_string(cfg, spec, subject, json_string_value(value), err, errlen);
    case OPTION_LIST:
        return option_apply_json_list(cfg, spec, subject, value, err, errlen);
    case OPTION_BOOL:
        if (!json_is_boolean(value))
            return config_fail(err, errlen, "%s: expected true or false, got %s", subject,
                               json_kind_name(value));
        return option_store_bool(cfg, spec, subject, json_is_true(value) ? "true" : "false", err,
                                 errlen);
    case OPTION_INT:
    case OPTION_LONG:
        return option_apply_json_number(cfg, spec, subject, value, err, errlen);
    }
    return config_fail(err, errlen, "%s: unhandled option kind", subject);
}

static int config_apply_object(struct config *cfg, const char *path, const json_t *root, char *err,
                               size_t errlen)
{
    if (!json_is_object(root))
        return config_fail(err, errlen, "%s: expected a JSON object, got %s", path,
                           json_kind_name(root));
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)root, key, value)
    {
        const struct option_spec *spec = option_find_key(key);
        if (spec == NULL)
            return config_fail(err, errlen, "%s: unknown key \"%s\"", path, key);
        if (option_apply_json(cfg, spec, path, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int config_file_read(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return config_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    json_error_t json_error;
    json_t *root = json_loadf(file, JSON_REJECT_DUPLICATES, &json_error);
    int read_errno = ferror(file) ? (errno != 0 ? errno : EIO) : 0;
    fclose(file);
    if (read_errno != 0) {
        json_decref(root);
        return config_fail(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
    }
    if (root == NULL)
        return config_fail(err, errlen, "%s:%d:%d: invalid JSON: %s", path, json_error.line,
                           json_error.column, json_error.text);
    int rc = config_apply_object(cfg, path, root, err, errlen);
    json_decref(root);
    return rc;
}
