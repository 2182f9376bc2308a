"""Reading what `/metrics` serves, with prometheus_client's own parser: a test that finds a
value here also proved that the text is valid Prometheus exposition format."""

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(text: str) -> list[Sample]:
    """Every sample of every family in `text`; raises ValueError on invalid text."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels`; KeyError when
    there is none, so a missing series is not mistaken for a zero."""
    matching = [
        sample.value
        for sample in samples(text)
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    if not matching:
        raise KeyError(f"no sample {name}{labels} in:\n{text}")
    return float(sum(matching))


def family_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}
