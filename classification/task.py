"""The classification task's record: what the core needs to train, serve, evaluate and report it."""

from captra.common.task import InferenceCommand, Task
from captra.classification import classify, report, service
from captra.classification.data import SentenceClassificationDataModule
from captra.classification.metrics import PROTOCOL
from captra.classification.model import ClassificationModule

TASK = Task(
    name="classification",
    module_class=ClassificationModule,
    data_class=SentenceClassificationDataModule,
    protocol=PROTOCOL,
    main_metric="accuracy",
    main_metric_label="accuracy (%)",
    score_names=("accuracy", "macro_f1"),
    command=InferenceCommand("classify", classify.HELP, classify.add_arguments, classify.run),
    endpoint=service.ENDPOINT,
    report_sections=report.report_sections,
    comparison_sections=report.comparison_sections,
    score_labels={"accuracy": "accuracy (%)", "macro_f1": "macro-F1 (%)", "loss": "cross-entropy (nats per example)"},
)
