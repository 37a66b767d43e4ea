"""The translation task's record: what the core needs to train, serve, evaluate and report it."""

from captra.common.report.split import ReportHooks
from captra.common.task import InferenceCommand, Task
from captra.translation import evaluation, service, translate
from captra.translation.data import TranslationDataModule
from captra.translation.metrics import PROTOCOL, paired_bootstrap, sentence_bleu
from captra.translation.model import TranslationModule

TASK = Task(
    name="translation",
    module_class=TranslationModule,
    data_class=TranslationDataModule,
    command=InferenceCommand("translate", "translate a file or stdin with a translation checkpoint",
                             translate.add_arguments, translate.run),
    report=ReportHooks(evaluation.read_split, evaluation.decode, evaluation.attention_figures,
                       attention_title="Attention (alignment matrices)"),
    endpoint=service.ENDPOINT,
    protocol=PROTOCOL,
    main_metric="bleu",
    main_metric_label="BLEU (cased)",
    score_names=("bleu", "bleu_lc", "bleu_tok_lc", "chrf", "ter"),
    lower_is_better=frozenset({"ter"}),
    sentence_score=sentence_bleu,
    paired_test=paired_bootstrap,
    score_labels={"bleu": "BLEU (cased)", "bleu_lc": "BLEU, lowercased", "bleu_tok_lc": "BLEU, Moses-tokenized and lowercased",
                  "chrf": "chrF", "ter": "TER", "signature": "BLEU (cased)", "signature_lc": "BLEU, lowercased",
                  "signature_tok_lc": "BLEU, Moses-tokenized and lowercased", "signature_chrf": "chrF",
                  "signature_ter": "TER"},
)
