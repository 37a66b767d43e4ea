"""The grapheme-to-phoneme task's record: what the core needs to train, serve, evaluate and report it."""

from captra.common.report.split import ReportHooks
from captra.common.task import InferenceCommand, Task
from captra.g2p import evaluation, pronounce, service
from captra.g2p.data import G2PDataModule
from captra.g2p.metrics import PROTOCOL, sentence_scores, word_error_rate
from captra.g2p.model import G2PModule

TASK = Task(
    name="g2p",
    module_class=G2PModule,
    data_class=G2PDataModule,
    command=InferenceCommand("pronounce", pronounce.HELP, pronounce.add_arguments, pronounce.run),
    report=ReportHooks(evaluation.read_split, evaluation.decode, evaluation.attention_figures,
                       attention_title="Attention (letter-phoneme alignments, learned)"),
    endpoint=service.ENDPOINT,
    protocol=PROTOCOL,
    main_metric="wer",
    main_metric_label="WER (%)",
    score_names=("wer", "per"),
    lower_is_better=frozenset({"wer", "per"}),
    sentence_score=sentence_scores,
    main_score=word_error_rate,
    score_labels={"wer": "word error rate (%)", "per": "phoneme error rate (%)"},
)
