"""sanity-and-sweeps: the best net is a later stage, chosen from the finished sweep trials."""

from handgrad.experiments import StudyOptions, sanity_and_sweeps
from handgrad.experiments.common import Results, Trial


def _done(options, best, seeds=1):
    names = sanity_and_sweeps.sweep_variants(options)
    return Results([Trial(name, seed, {"val_acc": 0.9 if name == best else 0.5 + 0.01 * seed}, 1.0)
                    for name in names for seed in range(seeds)])


def test_no_best_net_until_every_sweep_trial_has_finished():
    options = StudyOptions(quick=True)
    assert "best" not in sanity_and_sweeps.variants(options)
    done = _done(options, "as-published-hidden_dim-700")
    partial = Results([t for t in done.trials if t.variant != "as-published-filter_size-3"])
    assert "best" not in sanity_and_sweeps.variants(options, partial)


def test_best_net_is_the_highest_mean_validation_accuracy_trained_for_the_reports_epochs():
    options = StudyOptions(seeds=2)
    specs = sanity_and_sweeps.variants(options, _done(options, "as-published-hidden_dim-700", seeds=2))
    best = specs["best"]
    assert best.extra["chosen"] == "as-published-hidden_dim-700"
    assert best.config.model_options["hidden_dim"] == 700 and best.config.epochs == 10
    assert specs["as-published-best"].config.model_options["num_filters"] == 16


def test_report_choice_is_not_trained_twice():
    options = StudyOptions(seeds=1)
    specs = sanity_and_sweeps.variants(options, _done(options, "as-published-num_filters-16"))
    assert specs["best"].config.model_options["num_filters"] == 16 and "as-published-best" not in specs
