"""Batch chunks of an Engine: chunks in worker processes give PyTorch's numbers and the serial
numbers, gradients of every chunk arrive, and layers that need the whole batch stay serial."""

import sys

import numpy as np
import pytest

from handgrad import nn
from handgrad.engine import Engine, parallel
from torch_helpers import assert_close, compare_with_torch, lenet5


@pytest.fixture
def threads(monkeypatch):
    """Run the test with the given number of threads (and chunks of any size worth a
    thread), then restore the defaults."""
    before = parallel.get_num_threads()
    monkeypatch.setattr(parallel, "MIN_CHUNK_ELEMENTS", 1)
    yield parallel.set_num_threads
    parallel.set_num_threads(before)


def cnn(dtype=np.float64):
    return Engine(nn.Sequential(nn.Conv2d(2, 5, 3, padding=1, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(5, 4, 3, dtype=dtype), nn.Tanh(), nn.Flatten(),
                         nn.Linear(4 * 2 * 2, 6, dtype=dtype), nn.LeakyReLU(), nn.Linear(6, 3, dtype=dtype)))


def forward_backward(model, x, grad_out):
    model.zero_grad()
    y = model(x)
    dx = model.backward(grad_out)
    return y, dx, {name: p.grad.copy() for name, p in model.named_parameters()}


def count_parallel_runs(monkeypatch) -> list:
    calls = []
    run_chunks = parallel.run_chunks
    monkeypatch.setattr(parallel, "run_chunks",
                        lambda kind, layers, steps, parts: calls.append(len(parts)) or run_chunks(kind, layers, steps, parts))
    return calls


@pytest.mark.parametrize("batch", [16, 37, 64])
def test_chunks_equal_serial_run(threads, rng, batch, monkeypatch):
    model = cnn()
    x = rng.standard_normal((batch, 2, 8, 8))
    grad_out = rng.standard_normal((batch, 3))
    threads(1)
    serial = forward_backward(model, x, grad_out)
    threads(3)
    calls = count_parallel_runs(monkeypatch)
    chunked = forward_backward(model, x, grad_out)
    assert calls == [3, 3]  # forward and backward, cut in chunks
    for a, b in zip(serial[:2], chunked[:2]):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    for name in serial[2]:
        np.testing.assert_allclose(chunked[2][name], serial[2][name], rtol=1e-12, atol=1e-12, err_msg=name)


def test_lenet5_in_chunks_equals_torch(threads, rng):
    threads(2)
    model = lenet5()
    compare_with_torch(model, rng.standard_normal((64, 1, 28, 28)).astype(np.float32), path="engine")


def test_gradients_accumulate_across_calls_as_in_serial_mode(threads, rng):
    threads(2)
    model = cnn()
    x, grad_out = rng.standard_normal((32, 2, 8, 8)), rng.standard_normal((32, 3))
    _, _, once = forward_backward(model, x, grad_out)
    model(x)
    model.backward(grad_out)  # no zero_grad: adds to the gradient already there
    for name, param in model.named_parameters():
        np.testing.assert_allclose(param.grad, 2 * once[name], rtol=1e-12, err_msg=name)


def test_runs_are_reproducible(threads, rng):
    threads(2)
    x, grad_out = rng.standard_normal((64, 2, 8, 8)).astype(np.float32), rng.standard_normal((64, 3)).astype(np.float32)
    model = cnn(np.float32)
    first, second = (forward_backward(model, x, grad_out) for _ in range(2))
    for a, b in zip(first[:2], second[:2]):
        np.testing.assert_array_equal(a, b)
    for name in first[2]:
        np.testing.assert_array_equal(first[2][name], second[2][name])


def test_parameter_updates_reach_every_chunk(threads, rng):
    threads(2)
    model = cnn()
    x = rng.standard_normal((32, 2, 8, 8))
    model.module[8].weight.data += 1.0  # in place, as an optimizer step does
    model.train(False)
    expected = model(x[16:])
    np.testing.assert_allclose(model(x)[16:], expected, rtol=1e-12)


# factories, not instances: the test puts its layer in eval mode, and a rerun in the same process
# (mutmut's stats and clean runs) must start again from a layer in training mode
@pytest.mark.parametrize("make_layer", [lambda: nn.BatchNorm1d(6, dtype=np.float64), lambda: nn.Dropout(0.5)],
                         ids=["batchnorm1d", "dropout"])
def test_whole_batch_layers_keep_training_serial_and_eval_parallel(threads, rng, make_layer, monkeypatch):
    threads(2)
    model = Engine(nn.Sequential(nn.Linear(4, 6, dtype=np.float64), make_layer(), nn.Linear(6, 2, dtype=np.float64)))
    calls = count_parallel_runs(monkeypatch)
    x = rng.standard_normal((64, 4))
    model(x)
    model.backward(np.ones((64, 2)))
    assert calls == []
    model.eval()
    model(x)
    assert calls == [2]


def test_dropout_model_gives_the_same_numbers_for_any_thread_count(threads, rng):
    import handgrad

    results = []
    for count in (1, 2):
        threads(count)
        handgrad.manual_seed(3)
        model = Engine(nn.Sequential(nn.Linear(4, 6, dtype=np.float64), nn.Dropout(0.5), nn.Linear(6, 2, dtype=np.float64)))
        results.append(model(np.ones((64, 4))))
    np.testing.assert_array_equal(results[0], results[1])


def test_nested_sequential_runs_in_chunks_once(threads, rng, monkeypatch):
    threads(2)
    inner = nn.Sequential(nn.Linear(4, 5, dtype=np.float64), nn.ReLU())
    model = Engine(nn.Sequential(inner, nn.Linear(5, 2, dtype=np.float64)))
    calls = count_parallel_runs(monkeypatch)
    x, grad_out = rng.standard_normal((40, 4)), rng.standard_normal((40, 2))
    y, dx, grads = forward_backward(model, x, grad_out)
    assert calls == [2, 2]  # forward and backward of the one list of layers, the inner ones included
    threads(1)
    expected = forward_backward(model, x, grad_out)
    assert_close(dx, expected[1])
    for name in grads:
        assert_close(grads[name], expected[2][name], what=name)


def test_an_error_in_a_chunk_reaches_the_caller(threads, rng):
    threads(2)
    model = cnn()
    with pytest.raises(ValueError, match="Conv2d: expected 2 features/channels"):
        model(rng.standard_normal((64, 3, 8, 8)))


def test_chunks_are_cut_only_when_each_holds_enough_work(threads, monkeypatch):
    calls = count_parallel_runs(monkeypatch)
    model = cnn()  # its largest activation: 5 channels of 8x8 per sample
    monkeypatch.setattr(parallel, "MIN_CHUNK_ELEMENTS", 5 * 8 * 8 * 10)
    threads(2)
    model(np.zeros((19, 2, 8, 8)))  # 1.9 chunks' worth: serial
    model(np.zeros((20, 2, 8, 8)))  # two chunks of 10 samples
    model(np.zeros((1000, 2, 8, 8)))  # never more chunks than threads
    threads(1)
    model(np.zeros((1000, 2, 8, 8)))
    assert calls == [2, 2]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_set_num_threads_refuses_non_positive_ints(bad):
    with pytest.raises(ValueError, match="positive int"):
        parallel.set_num_threads(bad)


def test_backward_parameters_in_chunks_equals_backward(threads, rng, monkeypatch):
    threads(2)
    calls = count_parallel_runs(monkeypatch)
    model = cnn()
    x, grad_out = rng.standard_normal((32, 2, 8, 8)), rng.standard_normal((32, 3))
    _, _, expected = forward_backward(model, x, grad_out)
    model.zero_grad()
    model(x)
    assert model.backward_parameters(grad_out) is None
    assert calls == [2, 2, 2, 2]
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(param.grad, expected[name], err_msg=name)


def assert_chunks_give_the_serial_output(threads, model, x):
    threads(2)
    chunked = model(x)
    threads(1)
    np.testing.assert_allclose(chunked, model(x), rtol=1e-12)


def kill_workers():
    for worker in parallel._workers:
        worker.process.kill()
        worker.process.wait()


def test_settings_and_arrays_changed_between_calls_reach_the_workers(threads, rng):
    threads(2)
    model = cnn()
    x = rng.standard_normal((32, 2, 8, 8))
    model(x)
    model.module[7].negative_slope = 0.3  # a setting
    model.module[8].weight.data = rng.standard_normal(model.module[8].weight.shape)  # a new array, not an in-place update
    assert_chunks_give_the_serial_output(threads, model, x)


def test_inputs_of_any_size_reach_the_workers(threads, rng):
    threads(2)
    model = cnn()
    for batch in (8, 200, 40):  # the shared block grows when a chunk does not fit
        assert_chunks_give_the_serial_output(threads, model, rng.standard_normal((batch, 2, 8, 8)))


def test_a_floating_point_error_in_a_worker_is_raised_as_the_caller_asked(threads):
    threads(2)
    model = Engine(nn.Sequential(nn.Linear(4, 3, dtype=np.float32)))
    model.module[0].weight.data[...] = 1.0
    x = np.ones((16, 4), np.float32)
    x[8:] = 3e38  # only the worker's chunk overflows
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        model(x)
    with np.errstate(over="ignore"):
        assert np.isinf(model(x)[8:]).any()


def test_a_worker_that_died_is_replaced(threads, rng):
    threads(2)
    model = cnn()
    x = rng.standard_normal((32, 2, 8, 8))
    expected = model(x)
    kill_workers()
    np.testing.assert_allclose(model(x), expected, rtol=1e-12)
    assert all(worker.process.poll() is None for worker in parallel._workers)


def test_a_layer_swapped_inside_a_nested_sequential_reaches_the_workers(threads, rng):
    threads(2)
    inner = nn.Sequential(nn.Linear(4, 5, dtype=np.float64), nn.ReLU())
    model = Engine(nn.Sequential(inner, nn.Linear(5, 2, dtype=np.float64)))
    x = rng.standard_normal((40, 4))
    model(x)
    setattr(inner, "1", nn.Tanh())
    assert_chunks_give_the_serial_output(threads, model, x)


def test_a_worker_that_dies_between_forward_and_backward_gives_a_clear_error(threads, rng):
    threads(2)
    model = cnn()
    x, grad_out = rng.standard_normal((32, 2, 8, 8)), rng.standard_normal((32, 3))
    model(x)
    kill_workers()
    with pytest.raises(RuntimeError, match="worker process failed"):
        model.backward(grad_out)
    _, dx, _ = forward_backward(model, x, grad_out)  # the next batch gets a new worker
    threads(1)
    np.testing.assert_allclose(dx, forward_backward(model, x, grad_out)[1], rtol=1e-12)


def test_without_worker_processes_batches_run_in_one_process(threads, rng, monkeypatch):
    monkeypatch.setattr(parallel, "WORKER_COMMAND", [sys.executable, "-c", "raise SystemExit(1)"])
    monkeypatch.setattr(parallel, "_unavailable", False)
    parallel.close_workers()
    threads(1)
    model, x, grad_out = cnn(), rng.standard_normal((32, 2, 8, 8)), rng.standard_normal((32, 3))
    expected = forward_backward(model, x, grad_out)
    threads(2)
    with pytest.warns(RuntimeWarning, match="did not start.*one process from now on"):
        result = forward_backward(model, x, grad_out)
    assert parallel.chunk_count(32, 10**6) == 1
    for a, b in zip(expected[:2], result[:2]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layer_bytes,early", [
    ([1_300, 0, 0, 74_000, 0, 0, 0, 1_600_000, 0, 5_000], 7),  # the wide CNN: up to its first linear layer
    ([10, 1_000], 1),
    ([1_000, 10], 2),  # the first layer holds most: every array goes before the job
    ([0, 0, 0], 3),
])
def test_a_worker_runs_early_the_layers_before_the_bulk_of_the_parameters(layer_bytes, early):
    assert parallel.early_layers(layer_bytes) == early


def two_layers_the_second_heavy():
    model = Engine(nn.Sequential(nn.Linear(4, 3, dtype=np.float32), nn.Linear(3, 200, dtype=np.float32)))
    model.module[0].weight.data[...] = 1.0
    assert parallel.Plan(list(model.module), 64).early_layers == 1
    return model


def test_an_error_in_a_workers_early_layers_keeps_it_in_step(threads):
    threads(2)
    model = two_layers_the_second_heavy()
    x = np.ones((16, 4), np.float32)
    x[8:] = 3e38  # only the worker's chunk overflows, in the first layer
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        model(x)
    x[8:] = 2.0
    model.module[1].weight.data += 1.0  # copied after the worker has its job
    assert_chunks_give_the_serial_output(threads, model, x)


def test_an_interrupt_while_the_late_arrays_are_copied_stops_the_workers(threads, monkeypatch):
    threads(2)
    model = two_layers_the_second_heavy()
    x = np.ones((16, 4), np.float32)
    model(x)
    send = parallel.send

    def interrupted(sock, message, fds=()):
        if message == ("arrays",):
            raise KeyboardInterrupt
        send(sock, message, fds)

    monkeypatch.setattr(parallel, "send", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model(x)
    assert parallel._workers == []
    monkeypatch.setattr(parallel, "send", send)
    assert_chunks_give_the_serial_output(threads, model, x)  # with a new worker
