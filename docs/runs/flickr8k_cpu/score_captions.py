"""Score `captra caption` output (IMAGE<TAB>caption lines) against Flickr8k's references with captra's
captioning metric (nltk corpus_bleu, BLEU-1..4). Usage: python score_captions.py CAPTIONS.tsv [DATA_DIR]"""

import json
import sys
from pathlib import Path

from captra.captioning.corpus import read_flickr8k
from captra.captioning.metrics import captioning_scores

captions = dict(line.rstrip("\n").split("\t", 1) for line in open(sys.argv[1], encoding="utf-8"))
data_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/flickr8k")
images = read_flickr8k(data_dir, "test", data_dir / "images")
hypotheses = [captions[str(image.path)] for image in images]
print(json.dumps(captioning_scores(hypotheses, [image.captions for image in images]), indent=1))
