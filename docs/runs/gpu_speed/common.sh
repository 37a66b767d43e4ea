# Sourced by the run_*.sh scripts here, on the GPU machine, from the repository root.
# Installs the carried wheels (jsonargparse & co. are not in the machine's image), links the carried data
# where the configs expect ../shared/data, and defines `bench NAME LIMIT CMD...` (JSON to logs/NAME.json,
# all logs to $OUT/logs.tgz). Set CAPTRA_COMMIT to the commit the tree is at (the copy has no history).
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p logs ../shared/data
for folder in .gpu/multi30k .gpu/captioning/flickr8k; do [ -d $folder ] && ln -sfn $PWD/$folder ../shared/data/; done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > logs/machine.txt
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cudnn', torch.backends.cudnn.version())" >> logs/machine.txt
echo "cpus $(nproc)" >> logs/machine.txt
cat logs/machine.txt
bench() {  # NAME LIMIT_S CMD...
  local name=$1 limit=$2; shift 2
  local start=$(date +%s)
  timeout $limit "$@" > logs/$name.json 2> logs/$name.err
  echo "$name rc=$? $(( $(date +%s) - start ))s: $(tr -d ' \n' < logs/$name.json | grep -oE '"(speedup|[a-z_]*per_s|loader_headroom|identical)":[^,}]*' | tr '\n' ' ')"
  tar czf $OUT/logs.tgz logs  # after every step: a later step's time-out loses nothing
}
