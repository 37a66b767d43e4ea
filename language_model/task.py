"""The language-model task's record: what the core needs to train, serve, evaluate and report it."""

from captra.common.task import InferenceCommand, Task
from captra.language_model import report, sample
from captra.language_model.data import TextStreamDataModule
from captra.language_model.model import LanguageModelModule

PROTOCOL = (
    "Cross-entropy of every token of the split given all the tokens before it in its row (the state carried from "
    "window to window), in nats per token (loss), its exponential (perplexity) and, for a text, in bits per "
    "character of the split's text (bpc = summed nats / characters / ln 2; for characters, loss / ln 2). Formal "
    "languages: the percentage of strings predicted, a string counting when at every scored position the symbols "
    "the model gives probability at least model.legal_threshold are exactly the legal ones (the Reber grammars: "
    "every position; a^n b^n and a^n b^n c^n: the first a and every position after the first b, where the rest is "
    "determined)."
)

TASK = Task(
    name="language_model",
    module_class=LanguageModelModule,
    data_class=TextStreamDataModule,
    protocol=PROTOCOL,
    main_metric="loss",
    main_metric_label="cross-entropy (nats per token)",
    score_names=("loss", "ppl", "bpc", "accuracy"),
    command=InferenceCommand("sample", sample.HELP, sample.add_arguments, sample.run),
    report_sections=report.report_sections,
    score_labels={"loss": "cross-entropy (nats per token)", "ppl": "perplexity", "bpc": "bits per character",
                  "accuracy": "strings predicted (%)"},
)
