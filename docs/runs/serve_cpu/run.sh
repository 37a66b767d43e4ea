#!/usr/bin/env bash
# The recorded serving and int8 runs (docs/RESULTS.md, "Serving"), from the repository root, one after the other:
#   bash docs/runs/serve_cpu/run.sh MAIN_JOB_CKPT CAPTION_CKPT OUT_DIR
set -euo pipefail
ckpt=$1 caption=$2 out=$3
mkdir -p "$out"
py=.venv/bin/python
avx2="FBGEMM_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2"
# int8 against fp32 on the main job's model, with this CPU's kernels and with its AVX2 kernels only
$py benchmarks/int8_decoding.py --ckpt "$ckpt" --beam 5 --by-layer --data-dir ../shared/data/multi30k > "$out/int8_native.json"
env $avx2 $py benchmarks/int8_decoding.py --ckpt "$ckpt" --beam 5 --by-layer --data-dir ../shared/data/multi30k > "$out/int8_avx2.json"
# what --int8 chooses on each
gzip -dc ../shared/data/multi30k/test_2016_flickr.en.gz | sed -n "1,5p" > "$out/five.en"  # (head would make gzip fail on SIGPIPE)
$py -m captra translate --ckpt "$ckpt" --int8 --input "$out/five.en" 2> "$out/int8_choice_native.txt" > /dev/null
env $avx2 $py -m captra translate --ckpt "$ckpt" --int8 --input "$out/five.en" 2> "$out/int8_choice_avx2.txt" > /dev/null
# captra serve under load (1, 8, 32 clients), and a 10-minute soak at 8 clients
$py benchmarks/serve_load.py --ckpt "$ckpt" --caption-ckpt "$caption" --soak-seconds 600 --out "$out/serve_load.json" > /dev/null
# OpenNMT-py's server under the same load
$py benchmarks/peer_opennmt_serve.py --steps 300 --sentences 100 > /dev/null   # trains the model the lines below reuse
# beside it, in the same quiet spell: OpenNMT-py's model reused (no retraining), captra at OpenNMT's beam 5
$py benchmarks/peer_opennmt_serve.py --steps 300 --sentences 300 --out "$out/peer_opennmt_serve.json" > /dev/null
$py benchmarks/serve_load.py --ckpt "$ckpt" --sentences 300 --beam 5 --out "$out/serve_load_beam5_beside_peer.json" > /dev/null
