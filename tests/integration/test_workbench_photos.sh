#!/usr/bin/env bash
# The workbench's 处置 photos (issue 14, the staff's part), over real HTTP
# into one real gongzhi (intake and routing), docs/photos.md:
#  1. a resident files on the QR page with a photo; the worker's request
#     page shows it (through /w/media, fetched from intake);
#  2. in headless Chromium (JavaScript off) the worker resolves (办结) with
#     an after photo carrying GPS EXIF (file input = the file's path): the
#     stored photo has no EXIF, the timeline row and the event carry its
#     SHA-256, the request page shows its thumbnail, and the resident's
#     status page shows it (处置后照片) with the status link's secret;
#  3. with curl: a 备注 with a .jpg that is HTML gets a Chinese message and
#     changes nothing; a worker of another unit gets 403 on /w/media of
#     that request, and nobody signed in gets nothing; intake's internal
#     photo paths are 404 without the key.
# Test images are made here with the vips CLI and python3.
set -euo pipefail
: "${GZ_BUILD_DIR:?run under ctest}" "${GZ_TEST_DATABASE_URL:?run under scripts/test}"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
command -v vips >/dev/null || { echo "SKIP: vips (libvips-tools) not installed"; exit 77; }
bw_require
gz_init workbench_photos
gz_createdb
tmp=$GZ_TMP
export GZ_PORT_BASE=$((20000 + RANDOM % 10000)) GZ_DEMO_API_KEY=ph-key GZ_INTAKE_RATE=0 \
    GZ_DEMO_OPERATOR_TOKEN=ph-operator GZ_NOTIFY_CONTACT_KEY=ph-contact-key GZ_LOG_LEVEL=warn
gz_seed
gz_start gongzhi.log "$GZ_BIN/gongzhi"
web="http://127.0.0.1:$GZ_PORT_BASE"
wb="http://127.0.0.1:$((GZ_PORT_BASE + 1))"
api="$wb/api/v1/requests"
gz_wait_ready "$web" "$wb"

# ---- test images: a JPEG with GPS EXIF and an Artist; a second, plain,
# for the filing; HTML named .jpg.
vips gaussnoise "$tmp/noise.v" 300 200 --mean 128 --sigma 40
vips cast "$tmp/noise.v" "$tmp/plain.jpg" uchar
vips gaussnoise "$tmp/noise2.v" 200 150 --mean 90 --sigma 30
vips cast "$tmp/noise2.v" "$tmp/filing.jpg" uchar
python3 - "$tmp" <<'EOF'
import struct, sys
t = sys.argv[1]
jpeg = open(f"{t}/plain.jpg", "rb").read()
def ifd(entries, next_off, data_off):
    out, data = struct.pack("<H", len(entries)), b""
    for tag, typ, count, payload in entries:
        if len(payload) <= 4:
            out += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\0")
        else:
            out += struct.pack("<HHII", tag, typ, count, data_off + len(data))
            data += payload
    return out + struct.pack("<I", next_off), data
artist = b"Li Si worker\0"
ifd0_len = 2 + 2 * 12 + 4
gps_off = 8 + ifd0_len + len(artist)
ifd0, data0 = ifd([(0x013B, 2, len(artist), artist),
                   (0x8825, 4, 1, struct.pack("<I", gps_off))], 0, 8 + ifd0_len)
lat = struct.pack("<6I", 22, 1, 32, 1, 1234, 100)
gps_len = 2 + 2 * 12 + 4
gps, datag = ifd([(0x0001, 2, 2, b"N\0"), (0x0002, 5, 3, lat)], 0, gps_off + gps_len)
tiff = b"II*\0" + struct.pack("<I", 8) + ifd0 + data0 + gps + datag
app1 = b"Exif\0\0" + tiff
seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
open(f"{t}/after.jpg", "wb").write(jpeg[:2] + seg + jpeg[2:])
open(f"{t}/page.jpg", "wb").write(b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
EOF
grep -q "Li Si worker" "$tmp/after.jpg" || gz_fail "the test JPEG has no EXIF"

state() { gz_sql "SELECT state FROM routing.requests WHERE id = '$1'"; }
photos() { gz_sql "SELECT count(*) FROM intake.photos"; }
rows() { gz_sql "SELECT count(*) FROM routing.timeline WHERE request_id = '$1'"; }
session() { # STAFF JAR: a workbench session for STAFF in the cookie jar JAR
    local tok st
    tok=$("$GZ_BIN/gzctl" token issue "$1" 2>/dev/null)
    st=$(curl -sS -o /dev/null -w '%{http_code}' -c "$2" --data-urlencode "token=$tok" "$wb/w/login")
    [ "$st" = 303 ] || gz_fail "signing $1 in: $st"
}
act() { # TOKEN ID ACTION JSON: the worker API
    local st
    st=$(curl -sS -o "$tmp/act.json" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$4" "$api/$2/$3")
    [ "$st" = 200 ] || gz_fail "$3 of $2: $st $(cat "$tmp/act.json")"
}
no_exif() { # FILE: fails when the JPEG carries metadata
    python3 - "$1" <<'EOF' || gz_fail "the stored photo carries metadata"
import sys
b = open(sys.argv[1], "rb").read()
assert b[:3] == b"\xff\xd8\xff", "not a JPEG"
i = 2
while i + 4 <= len(b) and b[i] == 0xFF and b[i + 1] not in (0xDA, 0xD9):
    marker, n = b[i + 1], int.from_bytes(b[i + 2:i + 4], "big")
    assert marker not in (0xE1, 0xE2, 0xED), "metadata segment FF%02X" % marker
    i += 2 + n
for needle in (b"Exif", b"Li Si", b"http://ns.adobe.com"):
    assert needle not in b, needle
EOF
    ! vipsheader -a "$1" | grep -Eiq '^(exif-|xmp-data|icc-profile-data|iptc)' ||
        gz_fail "vipsheader sees metadata in $1"
}

# ---- 1. the resident files with a photo (the QR page, curl)
curl -sS -o "$tmp/filed.html" -F service_code=property -F 'description=5单元门口井盖破损' \
    -F nonce=wbp-nonce -F "photo=@$tmp/filing.jpg;type=image/jpeg" "$web/q/HGY-B0001"
status_path=$(grep -o 'href="/r/[0-9]*?t=[0-9a-f]*' "$tmp/filed.html" | head -1 | sed 's|href="||')
[ -n "$status_path" ] || gz_fail "the QR filing has no status link: $(head -c 600 "$tmp/filed.html")"
id=$(sed 's|/r/||; s|?.*||' <<<"$status_path")
token=${status_path##*t=}
filing_sha=$(gz_sql "SELECT sha256 FROM intake.request_photos WHERE request_id = $id")
[ -n "$filing_sha" ] || gz_fail "the filing's photo was not stored"
for _ in $(seq 1 200); do
    [ "$(state "$id")" = assigned ] && break
    sleep 0.05
done
[ "$(state "$id")" = assigned ] || gz_fail "request $id was not routed"
worker=$(gz_sql "SELECT assignee_staff FROM routing.requests WHERE id = '$id'")
tok=$("$GZ_BIN/gzctl" token issue "$worker" 2>/dev/null)
act "$tok" "$id" accept '{}'
act "$tok" "$id" verify '{"outcome": "reached", "text": "已电话联系居民"}'
act "$tok" "$id" start '{}'
session "$worker" "$tmp/wjar"
curl -sS -b "$tmp/wjar" -D "$tmp/h" -o "$tmp/req.html" "$wb/w/r/$id"
grep -q "id=\"filing-photos\"" "$tmp/req.html" || gz_fail "the request page does not show the filing's photo"
grep -q "src=\"/w/media/$filing_sha/thumb?r=$id\"" "$tmp/req.html" ||
    gz_fail "the filing's thumbnail is not served through /w/media"
grep -qi "^content-security-policy:.*img-src 'self'" "$tmp/h" ||
    gz_fail "the request page's policy does not let its photos load"
st=$(curl -sS -b "$tmp/wjar" -D "$tmp/h" -o "$tmp/ft.jpg" -w '%{http_code}' \
    "$wb/w/media/$filing_sha/thumb?r=$id")
[ "$st" = 200 ] && grep -qi '^content-type: image/jpeg' "$tmp/h" ||
    gz_fail "the filing's thumbnail through /w/media: $st"
grep -qi '^x-content-type-options: nosniff' "$tmp/h" || gz_fail "/w/media without nosniff"
[ "$(vipsheader -f width "$tmp/ft.jpg")" -le 320 ] || gz_fail "the thumbnail is not small"
echo "the request page shows the resident's photo through /w/media"

# ---- 2. 办结 with an after photo, in Chromium (no JavaScript)
"$GZ_BIN/gzctl" token issue "$worker" 2>"$tmp/issue.err" >/dev/null
url=$(grep -o 'http://[^ ]*/w/login?code=[A-Za-z0-9_-]*' "$tmp/issue.err" | head -1)
[ -n "$url" ] || gz_fail "gzctl token issue printed no sign-in link"
url="$wb/w/login?code=${url##*code=}"
bw_start 500 900 nojs
go "$url"
page_with '一次性登录链接' || fail "the sign-in link's page"
click 'button#login'
page_with '待签收</div>' || fail "no queue after signing in"
go "$wb/w/r/$id"
page_with '处置后照片' || fail "the 办结 form has no photo input"
grep -q 'form method="post" enctype="multipart/form-data" action="/w/r/[0-9]*/resolve"' <<<"$page" ||
    fail "the 办结 form is not multipart"
grep -q 'capture="environment"' <<<"$page" || fail "the photo input does not open the camera"
result='已更换5单元井盖，见处置后照片'
type_in 'form[action$="/resolve"] textarea[name="text"]' "$result"
type_in 'form[action$="/resolve"] input[name="photo"]' "$tmp/after.jpg"
click 'form[action$="/resolve"] button[type="submit"]'
page_with '已办结，等待居民评价。' || fail "办结 with a photo was not confirmed"
[ "$(state "$id")" = resolved ] || fail "state after 办结: $(state "$id")"
after_sha=$(gz_sql "SELECT detail::jsonb->'photos'->>0 FROM routing.timeline
                    WHERE request_id = '$id' AND kind = 'resolved'")
[ -n "$after_sha" ] && [ "$after_sha" != "$filing_sha" ] || fail "the resolution's timeline row has no photo"
grep -q "src=\"/w/media/$after_sha/thumb?r=$id\"" <<<"$page" || fail "the timeline does not show the after photo"
bw_cleanup
gz_sql "SELECT encode(bytes, 'base64') FROM intake.photos WHERE sha256 = '$after_sha'" |
    base64 -d >"$tmp/stored.jpg"
[ "$(sha256sum "$tmp/stored.jpg" | cut -c1-64)" = "$after_sha" ] || gz_fail "the after photo is not stored in intake"
no_exif "$tmp/stored.jpg"
echo "办结 with an after photo in Chromium: stored in intake without metadata, on the timeline"

# The event carried it: intake linked it to the request as an after photo,
# and the resident's status page shows it with the secret only.
for _ in $(seq 1 200); do
    [ "$(gz_sql "SELECT kind FROM intake.request_photos WHERE request_id = $id AND sha256 = '$after_sha'")" = after ] && break
    sleep 0.05
done
[ "$(gz_sql "SELECT kind FROM intake.request_photos WHERE request_id = $id AND sha256 = '$after_sha'")" = after ] ||
    gz_fail "intake did not link the after photo"
curl -sS -o "$tmp/status.html" "$web$status_path"
grep -q '处置后照片' "$tmp/status.html" || gz_fail "the status page does not show the after photo"
grep -q "src=\"/media/$after_sha/thumb?t=$token\"" "$tmp/status.html" ||
    gz_fail "the status page has no after thumbnail"
[ "$(curl -sS -o "$tmp/a.jpg" -w '%{http_code}' "$web/media/$after_sha?t=$token")" = 200 ] ||
    gz_fail "the resident cannot open the after photo"
cmp -s "$tmp/a.jpg" "$tmp/stored.jpg" || gz_fail "the resident's after photo differs from the stored one"
! curl -sS "$web/r/$id" | grep -q "$after_sha" || gz_fail "the after photo is on the page without the secret"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$web/media/$after_sha")" = 404 ] ||
    gz_fail "the after photo is served without the secret"
echo "the resident's status page shows the after photo (with the secret only)"

# ---- 3. curl: a non-image, another unit, no key
curl -sS -b "$tmp/wjar" -o "$tmp/req.html" "$wb/w/r/$id"
csrf=$(grep -o 'name="csrf" value="[0-9a-f]*"' "$tmp/req.html" | head -1 | sed 's/.*value="//; s/"//')
[ -n "$csrf" ] || gz_fail "no CSRF token on the request page"
before_rows=$(rows "$id") before_photos=$(photos)
st=$(curl -sS -b "$tmp/wjar" -o "$tmp/out.html" -w '%{http_code}' -F "csrf=$csrf" \
    -F 'text=补充照片' -F "photo=@$tmp/page.jpg;type=image/jpeg" "$wb/w/r/$id/note")
[ "$st" = 422 ] || gz_fail "a note with HTML as its photo answered $st"
grep -q '只能上传照片' "$tmp/out.html" || gz_fail "no Chinese message for the non-image: $(head -c 800 "$tmp/out.html")"
grep -q '操作没有执行' "$tmp/out.html" || gz_fail "the message does not say nothing was done"
[ "$(rows "$id")" = "$before_rows" ] || gz_fail "the refused note changed the timeline"
[ "$(photos)" = "$before_photos" ] || gz_fail "the refused photo was stored"
echo "a 备注 with HTML named .jpg: 422, 只能上传照片, nothing changed"

# A note with a good photo alone (no text): on the timeline.
st=$(curl -sS -b "$tmp/wjar" -o /dev/null -w '%{http_code}' -F "csrf=$csrf" \
    -F "photo=@$tmp/filing.jpg;type=image/jpeg" "$wb/w/r/$id/note")
[ "$st" = 303 ] || gz_fail "a note with a photo alone answered $st"
[ "$(gz_sql "SELECT detail::jsonb->'photos'->>0 FROM routing.timeline
             WHERE request_id = '$id' AND kind = 'note'")" = "$filing_sha" ] ||
    gz_fail "the note's photo is not on its timeline row"

other=$(gz_sql "SELECT id FROM org.staff WHERE role = 'grid_worker' AND unit_code <> (SELECT grid_code
                FROM routing.requests WHERE id = '$id') ORDER BY id LIMIT 1")
session "$other" "$tmp/ojar"
st=$(curl -sS -b "$tmp/ojar" -o "$tmp/out.html" -w '%{http_code}' "$wb/w/media/$after_sha?r=$id")
[ "$st" = 403 ] && grep -q '无权查看' "$tmp/out.html" || gz_fail "another unit's worker on /w/media: $st"
st=$(curl -sS -b "$tmp/ojar" -o /dev/null -w '%{http_code}' "$wb/w/media/$filing_sha/thumb?r=$id")
[ "$st" = 403 ] || gz_fail "another unit's worker on the filing's thumbnail: $st"
st=$(curl -sS -o /dev/null -w '%{http_code}' "$wb/w/media/$after_sha?r=$id")
[ "$st" = 303 ] || gz_fail "/w/media without a session: $st"
# A photo the request does not refer to, asked through it: 404.
other_sha=$(printf 'x%.0s' {1..64} | tr x 0)
st=$(curl -sS -b "$tmp/wjar" -o /dev/null -w '%{http_code}' "$wb/w/media/$other_sha?r=$id")
[ "$st" = 404 ] || gz_fail "a photo the request does not refer to: $st"
for path in "photos/$after_sha" "requests/$id/photos"; do
    [ "$(curl -sS -o /dev/null -w '%{http_code}' "$web/internal/v1/$path")" = 404 ] ||
        gz_fail "intake's /internal/v1/$path without the key"
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' \
        "$web/internal/v1/$path")" = 404 ] || gz_fail "intake's /internal/v1/$path with a wrong key"
done
[ "$(curl -sS -o /dev/null -w '%{http_code}' -F "photo=@$tmp/filing.jpg" "$web/internal/v1/photos")" = 404 ] ||
    gz_fail "intake took a photo without the key"
echo "another unit's worker: 403 on /w/media; intake's photo paths need the key"
echo "PASS"
