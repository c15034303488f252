# co.data for a shell node in an image with no Python (busybox): the same commands as
# client.py's, spoken to the data service as HTTP/1.0 through `nc` (busybox's wget crashes and
# it has no curl). Sourced by bin/conducto-data-*: `$1` is the scope, the rest the command.
# A request body is a file (stdin is spooled to one first): its length must be known.
scope=$1; cmd=$2
case $cmd in
  -h|--help) echo "usage: conducto-data-$scope puts|put|gets|get|exists|size|list|delete --name N" \
    "[--file F] [--prefix P] [--byte-range B,E] [--recursive] (the rest needs Python)"; exit 0 ;;
esac
shift 2
name=; file=; prefix=; recursive=; range=
while [ $# -gt 0 ]; do
  case $1 in
    --name) name=$2; shift ;; --name=*) name=${1#*=} ;;
    --file) file=$2; shift ;; --file=*) file=${1#*=} ;;
    --prefix) prefix=$2; shift ;; --prefix=*) prefix=${1#*=} ;;
    --byte-range|--byte_range) range=$2; shift ;; --byte-range=*|--byte_range=*) range=${1#*=} ;;
    --recursive) recursive=1 ;;
    *) echo "conducto-data-$scope: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
me="conducto-data-$scope"
[ -n "$CONDUCTO_DATA_URL" ] || { echo "$me: \$CONDUCTO_DATA_URL is not set" >&2; exit 1; }
hostport=${CONDUCTO_DATA_URL#*://}; hostport=${hostport%%/*}
host=${hostport%:*}; port=${hostport##*:}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

quote() {  # every byte as %XX: any name survives the query string
  printf %s "$1" | od -An -v -tx1 | tr -s ' \n' '\n\n' | while read -r h; do
    [ -n "$h" ] && printf %%%s "$h"
  done
}

# request METHOD OP QUERY [BODYFILE]: the answer's body in $tmp/body; fails with its message
request() {
  len=0; [ -n "$4" ] && { len=$(wc -c < "$4") || exit 1; }
  # nc half-closes the connection when its input ends, and aiohttp then drops the request:
  # its input is a fifo held open until the service has answered and closed (HTTP/1.0).
  rm -f "$tmp/to"; mkfifo "$tmp/to"
  nc "$host" "$port" < "$tmp/to" > "$tmp/answer" &
  exec 3> "$tmp/to"
  {
    printf '%s /v1/%s/%s?%s HTTP/1.0\r\nHost: %s\r\n' "$1" "$2" "$scope" "$3" "$hostport"
    printf 'Authorization: Bearer %s\r\nContent-Length: %s\r\n\r\n' "$CONDUCTO_DATA_TOKEN" "$len"
    [ -n "$4" ] && cat "$4"
  } >&3
  wait $! || true
  exec 3>&-
  skip=0; status=
  while IFS= read -r line; do  # the header lines (ASCII): count their bytes
    skip=$((skip + ${#line} + 1))
    [ -z "$status" ] && status=$(echo "$line" | cut -d' ' -f2)
    [ "$line" = "$(printf '\r')" ] && break
  done < "$tmp/answer"
  tail -c +$((skip + 1)) "$tmp/answer" > "$tmp/body"
  case $status in
    2??) return 0 ;;
    "") echo "$me: cannot reach the data service at $CONDUCTO_DATA_URL" >&2 ;;
    *) sed -e 's/^{"error": "//' -e 's/"}$//' "$tmp/body" >&2; echo >&2 ;;
  esac
  exit 1
}

q="name=$(quote "${name:-$prefix}")"
case $cmd in
  puts) cat > "$tmp/in"; request PUT object "$q" "$tmp/in" ;;
  put) request PUT object "$q" "$file" ;;
  gets)
    extra=; [ -n "$range" ] && extra="&start=${range%,*}&end=${range#*,}"
    request GET object "$q$extra"; cat "$tmp/body" ;;
  get) request GET object "$q"; cp "$tmp/body" "$file.part" && mv "$file.part" "$file" ;;
  exists|size) request GET "$cmd" "$q"; cat "$tmp/body"; echo ;;
  list) request GET list "$q&format=lines"; cat "$tmp/body" ;;
  delete) request DELETE object "$q&recursive=$recursive" ;;
  *) echo "$me: $cmd needs Python in the image (puts put gets get exists size list delete do not)" >&2
     exit 2 ;;
esac
