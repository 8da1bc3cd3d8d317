#!/usr/bin/env bash
# Photos on the QR page (issue 14), over real HTTP into a real gz-intake:
#  1. headless Chromium at phone size, JavaScript off, files the QR form
#     with a JPEG carrying GPS EXIF (and orientation 6, an Artist): the
#     stored photo has no EXIF at all, is upright (sides swapped), and the
#     status page shows its thumbnail linking to the photo;
#  2. with curl: a 200 MB upload is answered 413 at once (when sent
#     chunked, with no Content-Length, the connection is cut at the
#     request limit); an 11 MB photo gets 413 on the form; a truncated JPEG, a PNG bomb, a
#     JPEG+ZIP polyglot and a .jpg that is HTML each get a Chinese message
#     on the form, which keeps what was typed; nothing is stored for any;
#  3. gz-intake's memory (VmHWM, and VmRSS sampled) stays bounded while
#     the bomb is refused.
# Test images are made here, with the vips CLI and python3.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=browser.sh
source "$(dirname "$0")/browser.sh"
command -v vips >/dev/null || { echo "SKIP: vips (libvips-tools) not installed"; exit 77; }
bw_require
gz_init photos
gz_createdb
export GZ_PORT_BASE=$((20000 + RANDOM % 10000)) GZ_INTAKE_RATE=0 GZ_LOG_LEVEL=warn
gz_seed
gz_start intake.log "$GZ_BIN/gz-intake"
pid=$GZ_PID
base="http://127.0.0.1:$GZ_PORT_BASE"
gz_wait_ready "$base"
T=$GZ_TMP

# ---- test images
# A 400 x 200 JPEG (wide) with an EXIF block: orientation 6 (turn 90° to
# show upright: the upright photo is 200 x 400), Artist, GPS latitude.
vips gaussnoise "$T/noise.v" 400 200 --mean 128 --sigma 40
vips cast "$T/noise.v" "$T/plain.jpg" uchar
python3 - "$T" <<'EOF'
import struct, sys, zipfile, zlib, io
t = sys.argv[1]
jpeg = open(f"{t}/plain.jpg", "rb").read()
# TIFF, little endian: IFD0 (Orientation, Artist, GPS pointer), GPS IFD.
def ifd(entries, next_off, data_off):
    out, data = struct.pack("<H", len(entries)), b""
    for tag, typ, count, payload in entries:
        if len(payload) <= 4:
            out += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\0")
        else:
            out += struct.pack("<HHII", tag, typ, count, data_off + len(data))
            data += payload
    return out + struct.pack("<I", next_off), data
artist = b"Zhang San\0"
ifd0_len = 2 + 3 * 12 + 4
gps_off = 8 + ifd0_len + len(artist)
ifd0, data0 = ifd([(0x0112, 3, 1, struct.pack("<H", 6)),
                   (0x013B, 2, len(artist), artist),
                   (0x8825, 4, 1, struct.pack("<I", gps_off))], 0, 8 + ifd0_len)
lat = struct.pack("<6I", 22, 1, 32, 1, 1234, 100)
gps_len = 2 + 2 * 12 + 4
gps, datag = ifd([(0x0001, 2, 2, b"N\0"), (0x0002, 5, 3, lat)], 0, gps_off + gps_len)
tiff = b"II*\0" + struct.pack("<I", 8) + ifd0 + data0 + gps + datag
app1 = b"Exif\0\0" + tiff
seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
open(f"{t}/gps.jpg", "wb").write(jpeg[:2] + seg + jpeg[2:])
# Truncated: the first half.
open(f"{t}/truncated.jpg", "wb").write(jpeg[: len(jpeg) // 2])
# Polyglot: the JPEG, then a ZIP.
z = io.BytesIO()
with zipfile.ZipFile(z, "w") as zf:
    zf.writestr("evil.html", "<script>alert(1)</script>")
open(f"{t}/polyglot.jpg", "wb").write(jpeg + z.getvalue())
# HTML named .jpg.
open(f"{t}/page.jpg", "wb").write(b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
# PNG bomb: 100,000 x 100,000 declared; its IDAT is 20 MB of zero rows
# compressed to a few KB.
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
idat = zlib.compress(b"\0" * (20 * 1024 * 1024), 9)
open(f"{t}/bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                                  + chunk(b"IEND", b""))
EOF
grep -q "Zhang San" "$T/gps.jpg" || gz_fail "the test JPEG has no EXIF"

counts() { gz_sql "SELECT (SELECT count(*) FROM intake.requests) || '/' ||
    (SELECT count(*) FROM intake.photos) || '/' || (SELECT count(*) FROM intake.request_photos)"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }

# ---- 1. the browser, at phone size, JavaScript off
bw_start 390 844 nojs mobile
go "$base/q/HGY-B0001"
page_with 'multipart/form-data' || fail "the QR form does not take files"
grep -q 'capture="environment"' <<<"$page" || fail "the file input does not open the camera"
grep -q '最多3张' <<<"$page" || fail "the form does not say 3 photos at most"
grep -q '允许公开照片' <<<"$page" || fail "no 允许公开照片 checkbox"
grep -q 'name="photo_public" value="1">' <<<"$page" || fail "允许公开照片 is ticked by default"
description="3单元门口井盖破损，见照片"
click 'select[name="service_code"] option[value="property"]'
type_in 'textarea[name="description"]' "$description"
type_in 'input[name="photo"]' "$T/gps.jpg"
# Submitted with Enter in a text field (implicit submission): under mobile
# emulation chromedriver's click on the submit button never returns.
type_in 'input[name="phone"]' $'\ue007'
page_with '诉求编号' || fail "no request number after filing with a photo"
id=$(grep -o 'href="/r/[0-9]*?t=[0-9a-f]*' <<<"$page" | head -1 | sed 's|href="||')
[ -n "$id" ] || fail "no status link"
status_path=$id
rid=$(sed 's|/r/||; s|?.*||' <<<"$status_path")
[ "$(counts)" = 1/1/1 ] || fail "after the filing, requests/photos/links: $(counts)"
[ "$(gz_sql "SELECT public FROM intake.request_photos WHERE request_id = $rid")" = f ] ||
    fail "the photo is public though 允许公开照片 was not ticked"
sha=$(gz_sql "SELECT sha256 FROM intake.request_photos WHERE request_id = $rid")
gz_sql "SELECT encode(bytes, 'base64') FROM intake.photos" | base64 -d >"$T/stored.jpg"
[ "$(sha256sum "$T/stored.jpg" | cut -c1-64)" = "$sha" ] || fail "the photo is not named by its SHA-256"
# No EXIF at all: no APP1 segment, no "Exif", no GPS or artist text, and
# libvips sees no exif-*, orientation, XMP or ICC field.
python3 - "$T/stored.jpg" <<'EOF' || gz_fail "the stored photo carries metadata"
import sys
b = open(sys.argv[1], "rb").read()
assert b[:3] == b"\xff\xd8\xff", "not a JPEG"
i = 2
while i + 4 <= len(b) and b[i] == 0xFF and b[i + 1] not in (0xDA, 0xD9):
    marker, n = b[i + 1], int.from_bytes(b[i + 2:i + 4], "big")
    assert marker not in (0xE1, 0xE2, 0xED), "metadata segment FF%02X" % marker
    i += 2 + n
for needle in (b"Exif", b"Zhang San", b"http://ns.adobe.com"):
    assert needle not in b, needle
EOF
fields=$(vipsheader -a "$T/stored.jpg")
! grep -Eiq '^(exif-|orientation|xmp-data|icc-profile-data|iptc)' <<<"$fields" ||
    fail "vipsheader sees metadata: $(grep -Ei '^(exif|orient|xmp|icc|iptc)' <<<"$fields")"
[ "$(vipsheader -f width "$T/stored.jpg")x$(vipsheader -f height "$T/stored.jpg")" = 200x400 ] ||
    fail "the stored photo is not upright: $(vipsheader -f width "$T/stored.jpg")x$(vipsheader -f height "$T/stored.jpg")"
echo "filed with a photo in Chromium (390 px, no JavaScript): stored upright, no metadata"

# The status page, by the link: the thumbnail, linking to the photo.
go "$base$status_path"
page_with '办理过程' || fail "the link did not lead to the status page"
token=$(sed 's|.*?t=||' <<<"$status_path")
grep -q "src=\"/media/$sha/thumb?t=$token\"" <<<"$page" || fail "no thumbnail on the status page"
grep -q "href=\"/media/$sha?t=$token\"" <<<"$page" || fail "the thumbnail does not link to the photo"
curl -sS -D "$T/h" -o "$T/thumb.jpg" "$base/media/$sha/thumb?t=$token"
grep -qi '^content-type: image/jpeg' "$T/h" || fail "the thumbnail is not served as a JPEG"
[ "$(vipsheader -f height "$T/thumb.jpg")" -le 320 ] || fail "the thumbnail is not small"
curl -sS -D "$T/h" -o /dev/null "$base$status_path"
grep -qi "^content-security-policy:.*img-src 'self'" "$T/h" ||
    fail "the status page's policy does not let its photos load"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$base/media/$sha")" = 404 ] ||
    fail "a private photo is served without the secret"
# Without the secret the status page shows no private photo.
! curl -sS "$base/r/$rid" | grep -q "/media/$sha" || fail "a private photo is on the public status page"
echo "the status page shows the thumbnail, linking to the photo"

# ---- 2. bad uploads, with curl: a Chinese message, what was typed kept, nothing stored
before=$(counts)
typed="楼道灯不亮-$RANDOM"
upload() { # FILE TYPE [curl options...]: the QR form with one photo; prints the status
    local file=$1 type=$2
    shift 2
    curl -sS -o "$T/out.html" -w '%{http_code}' "$@" -F service_code=property \
        -F "description=$typed" -F nonce=photo-test-nonce -F "photo=@$file;type=$type" \
        "$base/q/HGY-B0001"
}
for bad in truncated.jpg:image/jpeg:损坏或不完整 bomb.png:image/png:尺寸过大 \
    polyglot.jpg:image/jpeg:只能上传照片 page.jpg:image/jpeg:只能上传照片; do
    IFS=: read -r file type words <<<"$bad"
    if [ "$file" = bomb.png ]; then
        base_hwm=$(hwm)
        (while kill -0 "$pid" 2>/dev/null; do rss >>"$T/rss"; sleep 0.01; done) &
        sampler=$!
    fi
    code=$(upload "$T/$file" "$type")
    if [ "$file" = bomb.png ]; then
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
        peak=$(sort -n "$T/rss" | tail -1)
        grown=$(($(hwm) - base_hwm))
        echo "PNG bomb: VmHWM $base_hwm kB before, grew by $grown kB; VmRSS peak sampled $peak kB"
        [ "$grown" -lt 65536 ] || fail "gz-intake's memory grew by $grown kB during the bomb"
    fi
    [ "$code" = 422 ] || fail "$file answered $code"
    grep -q "$words" "$T/out.html" || fail "$file: no Chinese message ($words): $(grep -o 'class="err"[^<]*' "$T/out.html")"
    grep -q "$typed" "$T/out.html" || fail "$file: the re-shown form lost the description"
    [ "$(counts)" = "$before" ] || fail "$file: something was stored: $(counts)"
    echo "$file: 422, $words, the description kept, nothing stored"
done

# One photo over the per-photo limit (10 MB), the upload within the
# request's (32 MB): read, dropped, and answered 413 on the form.
head -c $((11 * 1024 * 1024)) /dev/urandom >"$T/eleven.jpg"
code=$(upload "$T/eleven.jpg" image/jpeg)
[ "$code" = 413 ] || fail "an 11 MB photo answered $code"
grep -q '照片太大' "$T/out.html" || fail "the 11 MB photo's page has no Chinese message"
grep -q "$typed" "$T/out.html" || fail "the 11 MB photo's page lost the description"
[ "$(counts)" = "$before" ] || fail "something was stored for the 11 MB photo: $(counts)"
echo "11 MB photo: 413, 照片太大, the description kept, nothing stored"

# 200 MB: refused from its Content-Length, before the body is read.
head -c $((200 * 1024 * 1024)) /dev/zero >"$T/huge.jpg"
start=$(date +%s%N)
code=$(upload "$T/huge.jpg" image/jpeg -H 'Expect:' || true)
ms=$((($(date +%s%N) - start) / 1000000))
[ "$code" = 413 ] || fail "200 MB upload answered $code"
grep -q '照片太大' "$T/out.html" || fail "the 413 page has no Chinese message"
[ "$ms" -lt 5000 ] || fail "200 MB upload took $ms ms to refuse"
echo "200 MB upload: 413 in $ms ms"
# The same, chunked (no Content-Length): refused once the limit is crossed.
start=$(date +%s%N)
code=$(upload "$T/huge.jpg" image/jpeg -H 'Transfer-Encoding: chunked' -H 'Expect:' 2>/dev/null || true)
ms=$((($(date +%s%N) - start) / 1000000))
case $code in 413 | 000) ;; *) fail "the chunked 200 MB upload answered $code" ;; esac
[ "$ms" -lt 10000 ] || fail "the chunked 200 MB upload took $ms ms to stop"
echo "200 MB chunked upload: answered $code after $ms ms"
rm -f "$T/huge.jpg"
[ "$(counts)" = "$before" ] || fail "something was stored for the 200 MB uploads: $(counts)"
kill -0 "$pid" || fail "gz-intake died"

# A form with no photo still files (and the empty file input is no photo).
code=$(curl -sS -o "$T/out.html" -w '%{http_code}' -F service_code=property \
    -F "description=$typed" -F nonce=no-photo-nonce -F 'photo=@/dev/null;filename=' \
    "$base/q/HGY-B0001")
[ "$code" = 201 ] || fail "a filing without a photo answered $code"
[ "$(counts)" = 2/1/1 ] || fail "after a filing without a photo: $(counts)"
echo PASS
