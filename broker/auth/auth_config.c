/* SPDX-License-Identifier: MIT */
/*
 * auth_config.c: the checks of the auth options across fields (the secret's
 * length, which options go together, the patterns and {sub} templates).
 *
 * They are auth's rules, so they live here rather than in config/, which
 * stays below auth: main.c runs them right after config_load, and a
 * failure is one line and exit 2 like any configuration error.
 */
#include "auth/credentials.h"

#include <stdbool.h>
#include <string.h>

#include "auth/grants.h"
#include "auth/token.h"
#include "common/topic.h"
#include "config/options.h"

/* Every item of a list is a valid pattern, or with `templates` a valid
 * pattern once "{sub}" stands for a segment. */
static int auth_check_patterns(const struct config_list *list, const char *flag, bool templates,
                               char *err, size_t errlen)
{
    for (size_t i = 0; i < list->count; i++) {
        const char *item = list->items[i];
        const char *why = NULL;
        int rc = templates ? grants_template_valid(item, &why)
                           : topic_validate_pattern(item, strlen(item), &why);
        if (rc != 0)
            return config_fail(err, errlen, "--%s: \"%s\" is not a valid pattern: %s", flag, item,
                               why);
    }
    return 0;
}

int credentials_check_config(const struct config *cfg, char *err, size_t errlen)
{
    const char *secret_flag = cfg->auth_secret_file != NULL ? "auth-secret-file" : "auth-secret";
    if (cfg->auth_secret != NULL && cfg->auth_public_key != NULL)
        return config_fail(err, errlen, "--auth-public-key: not with --%s", secret_flag);
    if (cfg->auth_secret != NULL && strlen(cfg->auth_secret) < TOKEN_MIN_SECRET)
        return config_fail(err, errlen, "--%s: the HS256 secret needs at least %d bytes",
                           secret_flag, TOKEN_MIN_SECRET);
    if (auth_check_patterns(&cfg->anonymous, "anonymous", false, err, errlen) != 0 ||
        auth_check_patterns(&cfg->anonymous_publish, "anonymous-publish", false, err, errlen) !=
            0 ||
        auth_check_patterns(&cfg->user_pattern, "user-pattern", true, err, errlen) != 0)
        return -1;
    bool jwt = cfg->auth_secret != NULL || cfg->auth_public_key != NULL;
    if (cfg->user_pattern.count > 0 && !jwt)
        return config_fail(err, errlen, "--user-pattern: needs --auth-secret or --auth-public-key");
    if ((cfg->anonymous.count > 0 || cfg->anonymous_publish.count > 0) &&
        !config_auth_configured(cfg))
        return config_fail(err, errlen,
                           "--%s: needs auth (--auth-secret, --auth-public-key or "
                           "--api-key); without it everything is allowed",
                           cfg->anonymous.count > 0 ? "anonymous" : "anonymous-publish");
    return 0;
}
