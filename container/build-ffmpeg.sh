#!/bin/sh
# Build ffmpeg and ffprobe for decoding audio only, from Debian's source package of the
# image's release (with Debian's patches), into /opt/ffmpeg. Runs in the Dockerfile's
# ffmpeg stage. Debian's ffmpeg package links about 210 libraries (228 MB, most of them
# video encoders, filters and their dependencies, and pulls LLVM and Mesa besides); the
# worker only asks ffmpeg to probe and decode audio to raw float32, so this build has
# every native audio decoder (Speex through libspeex), every demuxer and parser, and two
# outputs: f32le on a pipe (decoding), and Opus through libopus in Ogg (--format opus).
set -eu
cd "$(mktemp -d)"
apt-get source --quiet ffmpeg >/dev/null
cd ffmpeg-*/
# Every native audio decoder: those in allcodecs.c's audio, PCM, DPCM and ADPCM sections, those
# elsewhere whose definition says AVMEDIA_TYPE_AUDIO, and the two 8SVX ones a macro defines.
{
  sed -n '/\/\* audio codecs \*\//,/\/\* subtitles \*\//s/^extern const FFCodec ff_\(.*\)_decoder;/\1/p' libavcodec/allcodecs.c
  awk '/^const FFCodec ff_[a-z0-9_]+_decoder *= *[{]/ { match($0, /ff_[a-z0-9_]+_decoder/); name = substr($0, RSTART + 3, RLENGTH - 11) }
       name && /AVMEDIA_TYPE_AUDIO/ { print name; name = "" }
       /^};/ { name = "" }' libavcodec/*.c
  printf '8svx_exp\n8svx_fib\n'
} | sort -u > audio-decoders
# Speex through libspeex: ffmpeg 7.1's own Speex decoder doubles the length of libspeex's streams.
decoders=$(grep -v -e '^lib' -e '^speex$' audio-decoders | paste -sd, -),libspeex
./configure --prefix=/opt/ffmpeg --disable-everything --disable-autodetect --disable-network --enable-libspeex --enable-libopus \
  --disable-doc --disable-debug --disable-ffplay --disable-avdevice --disable-postproc \
  --enable-decoder="$decoders" --enable-demuxers --enable-parsers --enable-bsfs \
  --enable-protocol=file,pipe --enable-muxer=pcm_f32le,opus --enable-encoder=pcm_f32le,libopus \
  --enable-filter=aresample,aformat,anull,abuffer,abuffersink >/dev/null
make -j"$(nproc)" >build.log 2>&1 || { tail -n 40 build.log; exit 1; }
make install >/dev/null 2>&1
# The outputs the worker uses (configure ignores component names it does not know).
/opt/ffmpeg/bin/ffmpeg -hide_banner -muxers | grep -Eq '^ *E +f32le ' || { echo "ffmpeg: no f32le muxer" >&2; exit 1; }
/opt/ffmpeg/bin/ffmpeg -hide_banner -muxers | grep -Eq '^ *E +opus ' || { echo "ffmpeg: no opus muxer" >&2; exit 1; }
/opt/ffmpeg/bin/ffmpeg -hide_banner -encoders | grep -Eq '^ *A[.A-Z]* +libopus ' || { echo "ffmpeg: no libopus" >&2; exit 1; }
/opt/ffmpeg/bin/ffmpeg -hide_banner -decoders | grep -c '^ A' | xargs printf 'ffmpeg %s: %s audio decoders\n' "$(/opt/ffmpeg/bin/ffmpeg -version | sed -n '1s/ffmpeg version \([^ ]*\).*/\1/p')"
