#!/usr/bin/env bash
# Regenerate the caller clips of the latency benchmark: telephony-rate (8 kHz, 16-bit, mono)
# speech from Debian's espeak-ng, each sentence with one mid-sentence pause of 300-700 ms
# (SSML <break>) where a careless endpointer would cut the caller off.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox
fi
i=0
while IFS='|' read -r pause first second; do
    i=$((i + 1))
    name=$(printf "turn%02d" "$i")
    espeak-ng -v en-us -s 165 -m -w "/tmp/$name.wav" \
        "<speak>$first <break time=\"${pause}ms\"/> $second</speak>"
    sox "/tmp/$name.wav" -r 8000 -c 1 -b 16 "$name.wav"
    rm -f "/tmp/$name.wav"
    printf '%s|%s|%s %s\n' "$name" "$pause" "$first" "$second"
done < sentences.txt > clips.txt
echo "wrote $i clips" >&2
