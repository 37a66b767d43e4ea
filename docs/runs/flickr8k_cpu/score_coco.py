"""COCO caption metrics of the recorded Flickr8k SAT report's hypotheses (docs/reports/flickr8k_sat_cpu)."""
import json, time
from captra.captioning.data import CaptioningDataModule
from captra.captioning.metrics import captioning_scores
data = CaptioningDataModule(data_dir="../shared/data/flickr8k")
images = [i for i in data.read_split("test") if i.captions]
hyps = open("docs/reports/flickr8k_sat_cpu/hypotheses.txt").read().splitlines()
assert len(hyps) == len(images) == 1000
refs = [i.captions for i in images]
start = time.perf_counter()
scores = captioning_scores(hyps, refs)
print(json.dumps({"scoring_s": round(time.perf_counter() - start, 2), **scores}, indent=1))
