#!/usr/bin/env bash
# Restores a pgwarden logical backup with stock tools only (gpg, zstd, pg_restore, psql, sha256sum):
# for the night when pgwarden, Node.js or Temporal are not available.
#
#   1. Download the backup folder <prefix>/<database>/logical/<backup id>/ , for example
#        aws s3 cp --recursive s3://cartly-db-backups/pgwarden/cartly/logical/<backup id>/ ./backup/
#        (Backblaze B2: add --endpoint-url https://s3.<region>.backblazeb2.com)
#   2. export BACKUP_PASSPHRASE=…  (or, for a backup wrapped for an OpenPGP key: BACKUP_PRIVATE_KEY_FILE=key.asc and,
#      if the key is protected, BACKUP_PRIVATE_KEY_PASSPHRASE=…)  and the target server's PGHOST PGPORT PGUSER PGPASSWORD
#   3. scripts/emergency-restore.sh ./backup cartly_restored
#
# Two steps of gpg: datakey.asc (the backup's data key, wrapped) opens with the passphrase or the private key;
# every object then opens with the data key. A backup made before envelope encryption has no datakey.asc: its
# objects open with the passphrase itself.
#
# Onto a server that lacks the backup's roles (another server, a fresh cluster), add both options:
#   scripts/emergency-restore.sh --no-owner --no-privileges ./backup cartly_restored
#     --no-owner       objects belong to the user restoring instead of the backup's roles (no ALTER … OWNER)
#     --no-privileges  no GRANT/REVOKE (grants name the backup's roles); grant what the application needs afterwards
#
# It loads exactly the objects SHA256SUMS lists (a folder without manifest.json holds a backup that never
# finished, and is refused), checks every object's sha256 before anything is created, creates the NEW database
# (it refuses an existing one), restores the schema, the data (objects one after the other) and the indexes and
# constraints, and drops the new database again if any step fails: it never leaves a half-restored database.
set -euo pipefail
usage='usage: emergency-restore.sh [--no-owner] [--no-privileges] BACKUP_DIR NEW_DATABASE'
restore_opts=()
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    --no-owner | --no-privileges) restore_opts+=("$1") ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1; $usage" >&2; exit 2 ;;
  esac
  shift
done
dir=${1:?$usage}
target=${2:?$usage}
if [[ -z "${BACKUP_PASSPHRASE:-}" && -z "${BACKUP_PRIVATE_KEY_FILE:-}" ]]; then
  echo "export BACKUP_PASSPHRASE (the passphrase the backup was made with), or BACKUP_PRIVATE_KEY_FILE (an armored private key it is wrapped for)" >&2
  exit 2
fi
[[ -z "${BACKUP_PRIVATE_KEY_FILE:-}" ]] || BACKUP_PRIVATE_KEY_FILE=$(realpath "$BACKUP_PRIVATE_KEY_FILE")
# Still read for scripts written against earlier versions: PG_RESTORE_OPTS="--no-owner".
# shellcheck disable=SC2206
restore_opts+=(${PG_RESTORE_OPTS:-})
cd "$dir"

if [[ ! -f manifest.json ]]; then
  echo "no manifest.json in $dir: this backup never finished (pgwarden does not list it). Restore another backup." >&2
  exit 1
fi
if [[ ! -f SHA256SUMS ]]; then
  echo "no SHA256SUMS in $dir: download the whole backup folder." >&2
  exit 1
fi
# What the backup consists of: the names SHA256SUMS lists, in its order (schema, data, indexes). Anything else in
# the folder (left by a crashed attempt, or put there by hand) is not part of it and is not loaded.
data_objects=()
while read -r sum name; do
  if [[ ! $sum =~ ^[0-9a-f]{64}$ || ! $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
    echo "SHA256SUMS has a line that is not \"<sha256>  <file name>\": $sum $name" >&2
    exit 1
  fi
  case $name in data-*.sql.zst.gpg) data_objects+=("$name") ;; esac
done <SHA256SUMS
for schema in pre-data.pgdump.zst.gpg post-data.pgdump.zst.gpg; do
  if ! grep -q "  $schema\$" SHA256SUMS; then
    echo "SHA256SUMS does not list $schema: this is not a pgwarden logical backup folder." >&2
    exit 1
  fi
done

echo "checking sha256 of every object"
sha256sum --check --strict SHA256SUMS

work=$(mktemp -d)
created=''
finish() {
  local status=$?
  gpgconf --homedir "$work/gnupg" --kill gpg-agent 2>/dev/null || true
  if [[ $status -ne 0 && -n $created ]]; then
    echo "restore failed: dropping the half-restored database $target (nothing else was changed)" >&2
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$target\"" >&2 || echo "could not drop $target: drop it by hand" >&2
    if grep -q 'role ".*" does not exist' "$work/errors" 2>/dev/null; then
      echo "the target server lacks a role the backup's objects are owned by or granted to: create it, or run again with --no-owner --no-privileges" >&2
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM # Ctrl-C or a kill also drops the half-restored database
mkdir -m 700 "$work/gnupg"
if [[ -f datakey.asc ]]; then # step 1: the backup's data key, with the passphrase or the private key
  echo "opening the data key (datakey.asc)"
  if [[ -n "${BACKUP_PRIVATE_KEY_FILE:-}" ]]; then
    gpg --homedir "$work/gnupg" --batch --quiet --import "$BACKUP_PRIVATE_KEY_FILE"
    object_key=$(gpg --homedir "$work/gnupg" --batch --quiet --pinentry-mode loopback --passphrase-fd 3 --decrypt datakey.asc 3<<<"${BACKUP_PRIVATE_KEY_PASSPHRASE:-}")
  else
    object_key=$(gpg --homedir "$work/gnupg" --batch --quiet --pinentry-mode loopback --passphrase-fd 3 --decrypt datakey.asc 3<<<"$BACKUP_PASSPHRASE")
  fi
else
  object_key=${BACKUP_PASSPHRASE:?this backup predates envelope encryption: export BACKUP_PASSPHRASE}
fi
open_object() { # step 2: decrypt (with the data key) and decompress one object to stdout
  gpg --homedir "$work/gnupg" --batch --quiet --pinentry-mode loopback --passphrase-fd 3 --decrypt "$1" 3<<<"$object_key" | zstd -q -d -c
}
load() { # load OBJECT COMMAND…: the object's contents into the command; its errors are kept for the hint
  local object=$1
  shift
  echo "$object"
  if ! open_object "$object" | "$@" 2>"$work/errors"; then
    cat "$work/errors" >&2
    return 1
  fi
  cat "$work/errors" >&2
}

echo "creating database $target"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$target\" TEMPLATE template0"
created=yes

echo -n "schema: "
load pre-data.pgdump.zst.gpg pg_restore --exit-on-error "${restore_opts[@]+"${restore_opts[@]}"}" -d "$target"
for object in "${data_objects[@]+"${data_objects[@]}"}"; do
  echo -n "data: "
  load "$object" psql -X -q -v ON_ERROR_STOP=1 -d "$target" -o /dev/null
done
echo -n "indexes and constraints: "
load post-data.pgdump.zst.gpg pg_restore --exit-on-error "${restore_opts[@]+"${restore_opts[@]}"}" -d "$target"
psql -X -q -d "$target" -c ANALYZE
echo "restored into $target: compare row counts with the \"tables\" of manifest.json"
