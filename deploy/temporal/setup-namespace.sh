#!/bin/sh
# goalflow deploy: one-shot job that makes sure goalflow's namespace and its custom search
# attributes (docs/temporal-ui.md) exist on the Temporal cluster.
#
# Runs in the temporalio/admin-tools image (it has the `temporal` CLI). Idempotent: it looks
# before it creates, so running it on every `docker compose up` changes nothing the second time.
# A search attribute that exists with another type is an error (exit 2): fix it by hand.
#
# With SQL visibility (PostgreSQL here) custom search attributes belong to one namespace and
# each namespace has a few slots per type (10 Keyword, 3 KeywordList, ...). Visibility stores
# their values unencrypted: goalflow only ever puts ids in them.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-goalflow}"
RETENTION="${NAMESPACE_RETENTION:-30d}"
ATTEMPTS="${SETUP_MAX_ATTEMPTS:-60}"
PAUSE="${SETUP_SLEEP_SECONDS:-2}"

log() { echo "[goalflow-setup] $*"; }

tctl() { temporal "$@" --address "$ADDRESS"; }

# retry CMD...: run CMD until it succeeds, at most ATTEMPTS times.
retry() {
    n=1
    until "$@"; do
        if [ "$n" -ge "$ATTEMPTS" ]; then
            log "giving up after $ATTEMPTS attempts: $*"
            return 1
        fi
        n=$((n + 1))
        sleep "$PAUSE"
    done
}

namespace_exists() {
    tctl operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1
}

ensure_namespace() {
    if namespace_exists; then
        log "namespace $NAMESPACE exists"
        return 0
    fi
    if tctl operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"; then
        log "namespace $NAMESPACE created (retention $RETENTION)"
        return 0
    fi
    # Another run may have created it in the meantime.
    namespace_exists
}

# "KeywordList", "INDEXED_VALUE_TYPE_KEYWORD_LIST" -> "keywordlist"
normalize_type() {
    printf '%s' "$1" | sed 's/^INDEXED_VALUE_TYPE_//' | tr -d '_' | tr '[:upper:]' '[:lower:]'
}

# ensure_search_attribute NAME TYPE
ensure_search_attribute() {
    name=$1
    type=$2
    listing=$(tctl operator search-attribute list --namespace "$NAMESPACE") || return 1
    current=$(printf '%s\n' "$listing" | awk -v n="$name" '$1 == n { print $2; exit }')
    if [ -z "$current" ]; then
        tctl operator search-attribute create --namespace "$NAMESPACE" \
            --name "$name" --type "$type" || return 1
        log "search attribute $name ($type) created"
    elif [ "$(normalize_type "$current")" = "$(normalize_type "$type")" ]; then
        log "search attribute $name ($type) exists"
    else
        log "ERROR: search attribute $name exists with type $current, goalflow needs $type"
        exit 2
    fi
}

log "waiting for Temporal at $ADDRESS"
retry tctl operator cluster health
retry ensure_namespace

# The search attributes goalflow writes on every enrollment (workflows/enrollment.py).
retry ensure_search_attribute GoalflowContactId Keyword
retry ensure_search_attribute GoalflowAutomationId Keyword
retry ensure_search_attribute GoalflowStep Keyword
retry ensure_search_attribute GoalflowGoalsMet KeywordList
retry ensure_search_attribute GoalflowVersion Int
retry ensure_search_attribute GoalflowReached KeywordList

log "namespace $NAMESPACE is ready"
