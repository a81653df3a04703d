/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/tools/pam-run.c: drives a PAM service from a private directory.
 *
 *   pam-run --confdir DIR --service NAME --user U [--user U2 ...] [--silent]
 *           [--hook open_session|acct_mgmt|close_session|setcred[,HOOK...]]
 *           [--module PATH [-- MODULE-ARGS...]] [--keep-loaded PATH] [--show-locale]
 *           [--repeat N] [--time]
 *
 * Calls pam_start_confdir, the hook, pam_end, and prints "rc=<PAM code
 * name>" (one line per hook: several hooks, comma-separated, run in turn on
 * the same handle, as a login program runs account then session) plus every message the conversation got, one per line, as
 * "info: ..." or "error: ...". Exit status 0 whatever the hook returned
 * (2 for a usage error), so tests read the result from the output.
 *
 * Several --user: one thread per user, all at once, each with its own
 * handle (what a threaded login daemon does); lines then start "U: ".
 * --module: calls the module's pam_sm_* hook directly on the handle
 * instead of through the stack, so the module's own return code (such as
 * PAM_IGNORE, which a stack never returns) can be seen.
 * --keep-loaded: loads a module with RTLD_NODELETE first, so that pam_end's
 * dlclose leaves it (and the libraries it pulls in) mapped, as in a daemon.
 * Leak reports then name its functions, and LeakSanitizer does not trip
 * over the thread-local storage of unloaded libraries.
 *
 * Like util-linux login, it calls setlocale(LC_ALL, "") first, so the
 * modules run under the locale the environment names (LC_ALL, LOCPATH).
 * --show-locale prints "locale: NAME decimal_point=C" before anything else,
 * so a test can tell that the locale it asked for is the one in force.
 *
 * --repeat N runs the whole thing (pam_start, the hooks, pam_end) N times in
 * turn, as N runs of pamtester would, from a small process; --time adds
 * " time=SECONDS" to each "rc=" line: the time spent inside that hook.
 */
#include <dlfcn.h>
#include <locale.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>

struct pam_run_job {
    const char *confdir;
    const char *service;
    const char *user;
    const char *hook;
    const char *module;
    int module_argc;
    const char **module_argv;
    int flags;
    bool prefix;       /* prefix lines with "user: " */
    bool timed;        /* --time */
    pthread_mutex_t *out_lock;
};

static const char *pam_run_code_name(int rc)
{
    static const struct { int code; const char *name; } names[] = {
        { PAM_SUCCESS, "PAM_SUCCESS" },
        { PAM_OPEN_ERR, "PAM_OPEN_ERR" },
        { PAM_SYMBOL_ERR, "PAM_SYMBOL_ERR" },
        { PAM_SERVICE_ERR, "PAM_SERVICE_ERR" },
        { PAM_SYSTEM_ERR, "PAM_SYSTEM_ERR" },
        { PAM_BUF_ERR, "PAM_BUF_ERR" },
        { PAM_PERM_DENIED, "PAM_PERM_DENIED" },
        { PAM_AUTH_ERR, "PAM_AUTH_ERR" },
        { PAM_CRED_INSUFFICIENT, "PAM_CRED_INSUFFICIENT" },
        { PAM_AUTHINFO_UNAVAIL, "PAM_AUTHINFO_UNAVAIL" },
        { PAM_USER_UNKNOWN, "PAM_USER_UNKNOWN" },
        { PAM_MAXTRIES, "PAM_MAXTRIES" },
        { PAM_NEW_AUTHTOK_REQD, "PAM_NEW_AUTHTOK_REQD" },
        { PAM_ACCT_EXPIRED, "PAM_ACCT_EXPIRED" },
        { PAM_SESSION_ERR, "PAM_SESSION_ERR" },
        { PAM_CRED_UNAVAIL, "PAM_CRED_UNAVAIL" },
        { PAM_CRED_EXPIRED, "PAM_CRED_EXPIRED" },
        { PAM_CRED_ERR, "PAM_CRED_ERR" },
        { PAM_NO_MODULE_DATA, "PAM_NO_MODULE_DATA" },
        { PAM_CONV_ERR, "PAM_CONV_ERR" },
        { PAM_AUTHTOK_ERR, "PAM_AUTHTOK_ERR" },
        { PAM_AUTHTOK_RECOVERY_ERR, "PAM_AUTHTOK_RECOVERY_ERR" },
        { PAM_AUTHTOK_LOCK_BUSY, "PAM_AUTHTOK_LOCK_BUSY" },
        { PAM_AUTHTOK_DISABLE_AGING, "PAM_AUTHTOK_DISABLE_AGING" },
        { PAM_TRY_AGAIN, "PAM_TRY_AGAIN" },
        { PAM_IGNORE, "PAM_IGNORE" },
        { PAM_ABORT, "PAM_ABORT" },
        { PAM_AUTHTOK_EXPIRED, "PAM_AUTHTOK_EXPIRED" },
        { PAM_MODULE_UNKNOWN, "PAM_MODULE_UNKNOWN" },
        { PAM_BAD_ITEM, "PAM_BAD_ITEM" },
        { PAM_CONV_AGAIN, "PAM_CONV_AGAIN" },
        { PAM_INCOMPLETE, "PAM_INCOMPLETE" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].code == rc)
            return names[i].name;
    return "PAM_UNKNOWN_CODE";
}

static void pam_run_print(const struct pam_run_job *job, const char *kind, const char *text)
{
    pthread_mutex_lock(job->out_lock);
    if (job->prefix)
        printf("%s: ", job->user);
    printf("%s%s\n", kind, text);
    fflush(stdout);
    pthread_mutex_unlock(job->out_lock);
}

/* Prints messages; answers prompts with nothing (no test needs input). */
static int pam_run_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    const struct pam_run_job *job = data;
    struct pam_response *answers = calloc((size_t)n, sizeof(*answers));
    if (!answers)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_TEXT_INFO:
            pam_run_print(job, "info: ", msg[i]->msg);
            break;
        case PAM_ERROR_MSG:
            pam_run_print(job, "error: ", msg[i]->msg);
            break;
        default:
            pam_run_print(job, "prompt: ", msg[i]->msg);
            break;
        }
    }
    *resp = answers;
    return PAM_SUCCESS;
}

typedef int (*pam_run_hook_fn)(pam_handle_t *, int, int, const char **);

static int pam_run_direct(const struct pam_run_job *job, pam_handle_t *pamh, const char *hook)
{
    char symbol[64];
    snprintf(symbol, sizeof(symbol), "pam_sm_%s", hook);
    void *lib = dlopen(job->module, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        pam_run_print(job, "error: ", dlerror());
        return PAM_OPEN_ERR;
    }
    pam_run_hook_fn fn;
    *(void **)&fn = dlsym(lib, symbol);
    int rc = fn ? fn(pamh, job->flags, job->module_argc, job->module_argv) : PAM_SYMBOL_ERR;
    /* Kept loaded: data the module set on the handle is freed by pam_end
     * with the module's own cleanup function. */
    return rc;
}

static int pam_run_hook(const struct pam_run_job *job, pam_handle_t *pamh, const char *hook)
{
    if (job->module)
        return pam_run_direct(job, pamh, hook);
    if (strcmp(hook, "open_session") == 0)
        return pam_open_session(pamh, job->flags);
    if (strcmp(hook, "acct_mgmt") == 0)
        return pam_acct_mgmt(pamh, job->flags);
    if (strcmp(hook, "close_session") == 0)
        return pam_close_session(pamh, job->flags);
    return pam_setcred(pamh, job->flags | PAM_ESTABLISH_CRED);
}

static void *pam_run_one(void *arg)
{
    const struct pam_run_job *job = arg;
    struct pam_conv conv = { pam_run_conv, (void *)job };
    pam_handle_t *pamh = NULL;
    char line[64];
    int rc = pam_start_confdir(job->service, job->user, &conv, job->confdir, &pamh);
    if (rc != PAM_SUCCESS) {
        snprintf(line, sizeof(line), "rc=%s", pam_run_code_name(rc));
        pam_run_print(job, "", line);
        return NULL;
    }
    char hooks[256], *save = NULL;
    snprintf(hooks, sizeof(hooks), "%s", job->hook);
    for (char *hook = strtok_r(hooks, ",", &save); hook; hook = strtok_r(NULL, ",", &save)) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = pam_run_hook(job, pamh, hook);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (job->timed)
            snprintf(line, sizeof(line), "rc=%s time=%.6f", pam_run_code_name(rc), took);
        else
            snprintf(line, sizeof(line), "rc=%s", pam_run_code_name(rc));
        pam_run_print(job, "", line);
    }
    pam_end(pamh, rc);
    return NULL;
}

/* Every comma-separated hook is one pam-run knows. */
static bool pam_run_hooks_valid(const char *hooks)
{
    const char *known[] = { "open_session", "acct_mgmt", "close_session", "setcred" };
    char copy[256], *save = NULL;
    if (snprintf(copy, sizeof(copy), "%s", hooks) >= (int)sizeof(copy))
        return false;
    int n = 0;
    for (char *hook = strtok_r(copy, ",", &save); hook; hook = strtok_r(NULL, ",", &save), n++) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok = ok || strcmp(hook, known[i]) == 0;
        if (!ok)
            return false;
    }
    return n > 0;
}

static int pam_run_usage(void)
{
    fprintf(stderr, "usage: pam-run --confdir DIR --service NAME --user U [--user U2 ...] [--silent]\n"
                    "               [--hook open_session|acct_mgmt|close_session|setcred[,HOOK...]]\n"
                    "               [--module PATH [-- MODULE-ARGS...]] [--keep-loaded PATH] [--show-locale]\n"
                    "               [--repeat N] [--time]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *confdir = NULL, *service = NULL, *hook = "open_session", *module = NULL;
    const char **users = calloc((size_t)argc, sizeof(*users));
    int user_count = 0, flags = 0, module_argc = 0, repeat = 1;
    bool timed = false;
    const char **module_argv = NULL;
    pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
    int status = 0;

    if (!users)
        return 1;
    /* What util-linux login does first: the modules see the user's locale
     * (a comma as LC_NUMERIC's decimal point under de_DE, for one). */
    const char *locale_name = setlocale(LC_ALL, "");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--confdir") == 0 && has_value)
            confdir = argv[++i];
        else if (strcmp(a, "--service") == 0 && has_value)
            service = argv[++i];
        else if (strcmp(a, "--user") == 0 && has_value)
            users[user_count++] = argv[++i];
        else if (strcmp(a, "--hook") == 0 && has_value)
            hook = argv[++i];
        else if (strcmp(a, "--module") == 0 && has_value)
            module = argv[++i];
        else if (strcmp(a, "--keep-loaded") == 0 && has_value) {
            if (!dlopen(argv[++i], RTLD_NOW | RTLD_NODELETE)) {
                fprintf(stderr, "pam-run: %s\n", dlerror());
                status = 1;
                goto out;
            }
        } else if (strcmp(a, "--silent") == 0)
            flags |= PAM_SILENT;
        else if (strcmp(a, "--time") == 0)
            timed = true;
        else if (strcmp(a, "--repeat") == 0 && has_value) {
            repeat = atoi(argv[++i]);
            if (repeat < 1 || repeat > 1000) {
                status = pam_run_usage();
                goto out;
            }
        }
        else if (strcmp(a, "--show-locale") == 0)
            printf("locale: %s decimal_point=%s\n", locale_name ? locale_name : "(unset: C)",
                   localeconv()->decimal_point);
        else if (strcmp(a, "--") == 0) {
            module_argv = (const char **)&argv[i + 1];
            module_argc = argc - i - 1;
            break;
        } else {
            status = pam_run_usage();
            goto out;
        }
    }
    if (!confdir || !service || user_count == 0 || !pam_run_hooks_valid(hook) ||
        (module && user_count > 1)) {
        status = pam_run_usage();
        goto out;
    }

    struct pam_run_job *jobs = calloc((size_t)user_count, sizeof(*jobs));
    pthread_t *threads = calloc((size_t)user_count, sizeof(*threads));
    if (!jobs || !threads) {
        free(jobs);
        free(threads);
        status = 1;
        goto out;
    }
    for (int i = 0; i < user_count; i++) {
        jobs[i] = (struct pam_run_job){
            .confdir = confdir, .service = service, .user = users[i], .hook = hook,
            .module = module, .module_argc = module_argc, .module_argv = module_argv,
            .flags = flags, .prefix = user_count > 1, .timed = timed, .out_lock = &out_lock,
        };
    }
    if (user_count == 1) {
        for (int r = 0; r < repeat; r++)
            pam_run_one(&jobs[0]);
    } else {
        int started = 0;
        for (; started < user_count; started++)
            if (pthread_create(&threads[started], NULL, pam_run_one, &jobs[started]) != 0) {
                status = 1;
                break;
            }
        for (int i = 0; i < started; i++)
            pthread_join(threads[i], NULL);
    }
    free(jobs);
    free(threads);

out:
    free(users);
    return status;
}
