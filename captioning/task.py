"""The captioning task's record: what the core needs to train, serve, evaluate and report it."""

from captra.captioning import caption, evaluation, service
from captra.captioning.data import CaptioningDataModule
from captra.captioning.metrics import PROTOCOL, corpus_cider, paired_bootstrap_cider, sentence_cider
from captra.captioning.model import CaptioningModule
from captra.common.report.split import ReportHooks
from captra.common.task import InferenceCommand, Task

TASK = Task(
    name="captioning",
    module_class=CaptioningModule,
    data_class=CaptioningDataModule,
    command=InferenceCommand("caption", "caption image files with a captioning checkpoint",
                             caption.add_arguments, caption.run),
    report=ReportHooks(evaluation.read_split, evaluation.decode, evaluation.attention_figures),
    endpoint=service.ENDPOINT,
    protocol=PROTOCOL,
    main_metric="cider",
    main_metric_label="CIDEr-D",
    score_names=("cider", "meteor", "rouge_l", "spice", "bleu1_coco", "bleu2_coco", "bleu3_coco", "bleu4_coco",
                 "bleu1", "bleu2", "bleu3", "bleu4", "bad_endings"),
    lower_is_better=frozenset({"bad_endings"}),
    sentence_score=sentence_cider,
    paired_test=paired_bootstrap_cider,
    main_score=corpus_cider,
    score_labels={"cider": "CIDEr-D", "meteor": "METEOR", "rouge_l": "ROUGE-L", "spice": "SPICE",
                  **{f"bleu{n}_coco": f"BLEU-{n} (COCO evaluation)" for n in range(1, 5)},
                  **{f"bleu{n}": f"BLEU-{n} (nltk corpus_bleu)" for n in range(1, 5)},
                  "bad_endings": "bad endings (% of captions)", "signature": "BLEU-1..4 (nltk corpus_bleu)",
                  "signature_coco": "COCO caption evaluation"},
)
