"""Containers of parameters as arguments (dicts, lists, tuples, NamedTuples, dataclasses)
and methods reading ``self``: gradients against centred finite differences on both
backends, in the arguments' own shapes; the optimizers updating them in place; what stays
refused, at the user's line.

The programs are written the way users of JAX and PyTorch write them (the MLP in the
style of JAX's "training a simple neural network" tutorial: a list of ``(W, b)`` layers
and a ``predict`` helper)."""
# ruff: noqa: B007, B905

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import NamedTuple

import numpy as np
import pytest
from conftest import statement_line

import srcdiff
from srcdiff import SrcdiffError, UnsupportedSyntaxError
from srcdiff.optim import SGD, Adam

BACKENDS = ["numba", "numpy"]
RNG = np.random.default_rng(7)
X = RNG.standard_normal((6, 3))
Y = RNG.standard_normal((6, 2))


def mlp_layers(sizes=(3, 4, 2), seed=0):
    rng = np.random.default_rng(seed)
    return [
        (0.5 * rng.standard_normal((m, n)), 0.1 * rng.standard_normal(n))
        for m, n in zip(sizes[:-1], sizes[1:])
    ]


def mlp_dict(seed=0):
    (W1, b1), (W2, b2) = mlp_layers(seed=seed)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


# --- checking a gradient shaped like its argument ------------------------------------------------


def float_leaves(tree, path=()):
    """(path, value) of every float and float array in a container, as srcdiff sees it."""
    if isinstance(tree, dict):
        items = tree.items()
    elif dataclasses.is_dataclass(tree):
        items = ((f.name, getattr(tree, f.name)) for f in dataclasses.fields(tree))
    elif isinstance(tree, tuple) and hasattr(tree, "_fields"):
        items = zip(tree._fields, tree)
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    elif isinstance(tree, float) or (isinstance(tree, np.ndarray) and tree.dtype.kind == "f"):
        return [(path, tree)]
    else:
        return []
    return [leaf for key, value in items for leaf in float_leaves(value, (*path, key))]


def get(tree, path):
    for key in path:
        tree = (
            getattr(tree, key) if isinstance(key, str) and not isinstance(tree, dict) else tree[key]
        )
    return tree


def replaced(tree, path, value):
    """A copy of ``tree`` with ``value`` at ``path`` (containers copied, arrays shared)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {**tree, key: replaced(tree[key], rest, value)}
    if dataclasses.is_dataclass(tree):
        return dataclasses.replace(tree, **{key: replaced(getattr(tree, key), rest, value)})
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return tree._replace(**{key: replaced(getattr(tree, key), rest, value)})
    items = list(tree)
    items[key] = replaced(items[key], rest, value)
    return type(tree)(items)


def fd_gradient(f, args, position, path, eps=1e-6):
    """Centred differences of ``f`` along each element of the leaf at ``path`` of
    ``args[position]``."""
    leaf = get(args[position], path)
    flat = np.array(leaf, dtype=float).reshape(-1)
    grad = np.zeros_like(flat)
    for i in range(flat.size):
        values = []
        for step in (eps, -eps):
            moved = flat.copy()
            moved[i] += step
            new = moved.reshape(np.shape(leaf)) if isinstance(leaf, np.ndarray) else moved[0]
            call_args = list(args)
            call_args[position] = replaced(args[position], path, new)
            values.append(f(*call_args))
        grad[i] = (values[0] - values[1]) / (2 * eps)
    return grad.reshape(np.shape(leaf)) if isinstance(leaf, np.ndarray) else grad[0]


def check_tree_gradient(f, args, wrt=0, backend="numpy", **options):
    """The gradient of ``f`` with respect to the container ``args[wrt]``: the same shape
    as the argument, each float leaf against centred differences, arguments unchanged."""
    before = copy.deepcopy(args)
    g = srcdiff.grad(f, wrt=wrt, backend=backend, **options)
    got = g(*args)
    for a, b in zip(float_leaves(args), float_leaves(before)):
        np.testing.assert_array_equal(a[1], b[1])  # the caller's arrays are never written
    assert same_structure(got, args[wrt]), (got, g.source)
    for path, _ in float_leaves(args[wrt]):
        expected = fd_gradient(f, args, wrt, path)
        np.testing.assert_allclose(
            get(got, path), expected, rtol=1e-5, atol=1e-7, err_msg=f"{path}\n{g.source}"
        )
    return g, got


def same_structure(gradient, argument) -> bool:
    """The gradient has the argument's containers, keys and field names, with a float or
    array of the leaf's shape at each float leaf and None at every other leaf."""
    if isinstance(argument, dict):
        return (
            type(gradient) is dict
            and list(gradient) == list(argument)
            and all(same_structure(gradient[k], v) for k, v in argument.items())
        )
    if dataclasses.is_dataclass(argument) or isinstance(argument, (list, tuple)):
        if type(gradient) is not type(argument):
            return False
        if dataclasses.is_dataclass(argument):
            names = [f.name for f in dataclasses.fields(argument)]
            return all(same_structure(getattr(gradient, n), getattr(argument, n)) for n in names)
        return len(gradient) == len(argument) and all(
            same_structure(g, a) for g, a in zip(gradient, argument)
        )
    if isinstance(argument, np.ndarray) and argument.dtype.kind == "f":
        return isinstance(gradient, np.ndarray) and gradient.shape == argument.shape
    if isinstance(argument, float):
        return isinstance(gradient, float)
    return gradient is None


# --- the programs --------------------------------------------------------------------------------


def dict_loss(params, X, Y):
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    out = hidden @ params["W2"] + params["b2"]
    return np.mean((out - Y) ** 2)


def nested_dict_loss(params, X, Y):
    encoder, decoder = params["encoder"], params["decoder"]
    hidden = np.tanh(X @ encoder["W"] + encoder["b"])
    out = hidden @ decoder["W"] + decoder["b"]
    return np.sum((out - Y) ** 2) * params["scale"]


def predict(params, activations):
    """As in JAX's MLP tutorial."""
    for w, b in params[:-1]:
        outputs = activations @ w + b
        activations = np.tanh(outputs)
    final_w, final_b = params[-1]
    return activations @ final_w + final_b


def list_loss(params, X, Y):
    preds = predict(params, X)
    return np.mean((preds - Y) ** 2)


def indexed_loss(layers, X, Y):
    h = X
    for i in range(len(layers)):
        W, b = layers[i]
        h = np.tanh(h @ W + b) if i < len(layers) - 1 else h @ W + b
    return np.sum((h - Y) ** 2)


class Layer(NamedTuple):
    W: np.ndarray
    b: np.ndarray


def namedtuple_loss(layers, X, Y):
    h = X
    for layer in layers:
        h = np.tanh(h @ layer.W + layer.b)
    return np.sum((h - Y) ** 2)


@dataclasses.dataclass
class Linear:
    W: np.ndarray
    b: np.ndarray
    scale: float
    name: str = "linear"


def dataclass_loss(model, X, Y):
    out = model.scale * (X @ model.W) + model.b
    return np.sum((out - Y) ** 2)


def over_params(params, X):
    s = 0.0
    for p in params:
        s = s + np.sum(p * p)
    return s * np.sum(X)


def over_items(params, X):
    s = 0.0
    for name, p in params.items():
        s = s + np.sum(p**2)
    for name in params:
        s = s + np.sum(np.sin(params[name]))
    return s + np.sum(X)


def with_counts(params, X):
    s = 0.0
    h = np.sum(np.tanh(X @ params["W"]))
    for i in range(params["steps"]):
        s = s + h * params["weights"][i]
    return s


def enumerated(layers, X, Y):
    h = X
    for i, (W, b) in enumerate(layers):
        h = h @ W + b * (i + 1)
    return np.sum(h * Y)


def zipped(Ws, bs, X):
    h = X
    for W, b in zip(Ws, bs):
        h = np.tanh(h @ W + b)
    return np.sum(h)


def nested_loops(blocks, X):
    h = X
    for block in blocks:
        for W in block:
            h = np.tanh(h @ W)
        h = h * 0.5
    return np.sum(h * h)


def scalars(params, x):
    return params["a"] * np.sin(x * params["b"]) + params["c"][0] ** 2


# --- gradients against finite differences ---------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dict_of_parameters(backend):
    g, got = check_tree_gradient(dict_loss, (mlp_dict(), X, Y), backend=backend)
    assert "params_W1" in g.source  # leaves are named by their keys


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nested_dict(backend):
    (W1, b1), (W2, b2) = mlp_layers()
    params = {"encoder": {"W": W1, "b": b1}, "decoder": {"W": W2, "b": b2}, "scale": 0.5}
    check_tree_gradient(nested_dict_loss, (params, X, Y), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_list_of_layers_through_a_helper(backend):
    check_tree_gradient(list_loss, (mlp_layers((3, 5, 4, 2)), X, Y), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_by_index(backend):
    check_tree_gradient(indexed_loss, (mlp_layers(), X, Y), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_named_tuples(backend):
    layers = [Layer(W, b) for W, b in mlp_layers()]
    g, got = check_tree_gradient(namedtuple_loss, (layers, X, Y), backend=backend)
    assert type(got[0]) is Layer


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dataclass(backend):
    (W, b), _ = mlp_layers(sizes=(3, 2, 2))
    g, got = check_tree_gradient(dataclass_loss, (Linear(W, b, 1.5), X, Y), backend=backend)
    assert type(got) is Linear and got.name is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_loops_over_containers(backend):
    params = tuple(RNG.standard_normal(3) for _ in range(3))
    check_tree_gradient(over_params, (params, X), backend=backend)
    blocks = [[0.5 * RNG.standard_normal((3, 3)) for _ in range(2)] for _ in range(2)]
    check_tree_gradient(nested_loops, (blocks, X), backend=backend)
    check_tree_gradient(over_items, (mlp_dict(), X), backend=backend)
    check_tree_gradient(enumerated, (mlp_layers((3, 2, 2)), X, Y), backend=backend)
    Ws = [RNG.standard_normal((3, 3)) for _ in range(2)]
    check_tree_gradient(
        zipped, (Ws, [RNG.standard_normal(3) for _ in range(2)], X), backend=backend
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_leaves(backend):
    params = {"a": 1.5, "b": -0.7, "c": [2.0, 0.5]}
    check_tree_gradient(scalars, (params, 0.3), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_leaves_pass_through(backend):
    params = {
        "W": RNG.standard_normal((3, 2)),
        "steps": 2,
        "weights": np.array([0.5, 2.0]),
        "ids": np.array([1, 2]),
        "activation": "tanh",
        "note": None,
    }
    g, got = check_tree_gradient(with_counts, (params, X), backend=backend)
    assert got["steps"] is None and got["ids"] is None and got["activation"] is None
    # the int is an argument, read at each call, not a constant of the compiled code
    once = g({**params, "steps": 1}, X)
    np.testing.assert_allclose(once["weights"][1], 0.0)
    assert len(g.__srcdiff__._structured.flats) == 1


def test_several_arguments_and_value_and_grad():
    vg = srcdiff.value_and_grad(zipped, wrt=(0, 1, 2))
    Ws = [RNG.standard_normal((3, 3)) for _ in range(2)]
    bs = [RNG.standard_normal(3) for _ in range(2)]
    value, (gW, gb, gX) = vg(Ws, bs, X)
    assert value == pytest.approx(zipped(Ws, bs, X))
    assert isinstance(gW, list) and len(gW) == 2 and gX.shape == X.shape
    np.testing.assert_allclose(gX, fd_gradient(zipped, (Ws, bs, X), 2, ()), rtol=1e-5, atol=1e-7)


def test_each_structure_gets_a_variant_and_the_warm_call_reuses_it():
    g = srcdiff.grad(list_loss)
    small, large = mlp_layers((3, 2)), mlp_layers((3, 4, 4, 2))
    assert len(g(small, X, Y)) == 1
    assert len(g(large, X, Y)) == 3
    assert "params_2_0" in g.source  # the source of the latest call's variant
    g(mlp_layers((3, 2), seed=1), X, Y)  # the same structure, other values
    assert len(g.__srcdiff__._structured.flats) == 2


# --- methods -----------------------------------------------------------------------------------


class Model:
    def __init__(self, W, b, decay=0.01):
        self.W, self.b, self.decay = W, b, decay
        self.label = "a model"  # not a number: not read, not an argument

    def predict(self, X):
        return np.tanh(X @ self.W + self.b)

    def loss(self, X, Y):
        penalty = self.decay * np.sum(self.W**2)
        return np.mean((self.predict(X) - Y) ** 2) + penalty


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bound_method(backend):
    (W, b), _ = mlp_layers((3, 2, 2))
    model = Model(W, b)
    gX = srcdiff.grad(model.loss, backend=backend)(X, Y)  # position 0 is X, as in the signature
    np.testing.assert_allclose(gX, fd_gradient(model.loss, (X, Y), 0, ()), rtol=1e-5, atol=1e-8)
    g = srcdiff.grad(model.loss, wrt="self", backend=backend)
    got = g(X, Y)
    # the numbers and arrays the method reads of the instance, by name (not its label)
    assert set(got) == {"W", "b", "decay"}

    def as_function(W, b, decay):
        return Model(W, b, decay).loss(X, Y)

    for k, name in enumerate(("W", "b", "decay")):
        expected = fd_gradient(as_function, (W, b, 0.01), k, ())
        np.testing.assert_allclose(got[name], expected, rtol=1e-5, atol=1e-8)
    model.W = model.W * 2.0  # the instance's attributes are read at each call
    np.testing.assert_allclose(g(X, Y)["b"], srcdiff.grad(Model.loss)(model, X, Y)["b"])


class Configured:
    scale = 2.0  # a class attribute: a constant, like a global

    def __init__(self, W, activation, bias=None):
        self.W, self.activation, self.bias = W, activation, bias

    def loss(self, X):
        z = self.scale * (X @ self.W)
        if self.activation == "tanh":
            h = np.tanh(z)
        else:
            h = z
        if self.bias is not None:
            return np.sum((h + self.bias) ** 2)
        return np.sum(h**2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_strings_none_and_class_attributes_are_decided_at_compile_time(backend):
    W = RNG.standard_normal((3, 2))
    for activation, bias in (("tanh", None), ("linear", np.ones(2))):
        model = Configured(W, activation, bias)
        g = srcdiff.grad(model.loss, wrt="self", backend=backend)
        got = g(X)
        assert ("np.tanh" in g.source) == (activation == "tanh")
        assert got["activation"] is None and (bias is None) == (got["bias"] is None)

        def as_function(W, model=model):
            return Configured(W, model.activation, model.bias).loss(X)

        np.testing.assert_allclose(
            got["W"], fd_gradient(as_function, (W,), 0, ()), rtol=1e-5, atol=1e-7
        )


def test_gradients_of_containers_and_methods_pickle():
    g = pickle.loads(pickle.dumps(srcdiff.grad(dict_loss)))
    np.testing.assert_allclose(
        g(mlp_dict(), X, Y)["b2"], srcdiff.grad(dict_loss)(mlp_dict(), X, Y)["b2"]
    )
    (W, b), _ = mlp_layers((3, 2, 2))
    model = Model(W, b)
    method = pickle.loads(pickle.dumps(srcdiff.grad(model.loss, wrt="self")))  # with a copy
    np.testing.assert_allclose(method(X, Y)["W"], srcdiff.grad(model.loss, wrt="self")(X, Y)["W"])


# --- optimizers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [lambda p: Adam(p, lr=0.05), lambda p: SGD(p, lr=0.1, momentum=0.9)]
)
def test_optimizers_update_containers_in_place(make):
    params = mlp_dict()
    arrays = dict(params)
    layers = mlp_layers()
    for tree, loss in ((params, dict_loss), (layers, list_loss)):
        vg = srcdiff.value_and_grad(loss)
        opt = make(tree)
        first, _ = vg(tree, X, Y)
        for _ in range(20):
            value, grads = vg(tree, X, Y)
            opt.step(grads)
        assert vg(tree, X, Y)[0] < 0.8 * first
    assert all(params[k] is arrays[k] for k in params)  # the same arrays, updated in place


def make_loss(activation):
    """examples/mlp_digits.py's loss, with a dict of parameters (``activation`` from the
    closure)."""

    def loss(params, X, Y):
        h1 = activation(X @ params["W1"] + params["b1"])
        z = h1 @ params["W2"] + params["b2"]
        top = np.max(z, axis=1, keepdims=True)
        logp = z - top - np.log(np.sum(np.exp(z - top), axis=1, keepdims=True))
        return -np.mean(np.sum(Y * logp, axis=1))

    return loss


def test_the_digits_example_with_a_dict_of_parameters():
    params, targets = mlp_dict(), np.eye(2)[[0, 1, 1, 0, 1, 0]]
    loss = make_loss(np.tanh)
    loss_and_grad = srcdiff.value_and_grad(loss)
    flat = srcdiff.value_and_grad(
        flat_digits_loss, wrt=(0, 1, 2, 3)
    )  # the same loss, one argument per array: the same generated code
    value, grads = loss_and_grad(params, X, targets)
    flat_value, flat_grads = flat(*params.values(), X, targets)
    assert value == flat_value
    for got, expected in zip(grads.values(), flat_grads):
        np.testing.assert_array_equal(got, expected)
    opt = Adam(params, lr=0.05)
    for _ in range(30):
        opt.step(loss_and_grad(params, X, targets)[1])
    assert loss(params, X, targets) < 0.5 * value


def flat_digits_loss(W1, b1, W2, b2, X, Y):
    h1 = np.tanh(X @ W1 + b1)
    z = h1 @ W2 + b2
    top = np.max(z, axis=1, keepdims=True)
    logp = z - top - np.log(np.sum(np.exp(z - top), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


def test_optimizers_update_floats_in_mutable_containers_only():
    params = {"W": np.ones(3), "scale": 2.0, "n": 3}
    opt = SGD(params, lr=0.5)
    opt.step({"W": np.ones(3), "scale": 1.0, "n": None})
    assert params["scale"] == 1.5 and params["n"] == 3
    np.testing.assert_allclose(params["W"], 0.5)
    with pytest.raises(SrcdiffError, match="tuple"):
        SGD((np.ones(3), 2.0), lr=0.1)


# --- programs as JAX and PyTorch users write them ------------------------------------------------


def relu(x):
    return np.maximum(0.0, x)


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def jax_tutorial_predict(params, image):
    """JAX's MLP tutorial, one image: ``params`` a list of ``(w, b)``, w of shape (out, in)."""
    activations = image
    for w, b in params[:-1]:
        outputs = np.dot(w, activations) + b
        activations = relu(outputs)
    final_w, final_b = params[-1]
    logits = np.dot(final_w, activations) + final_b
    return logits - logsumexp(logits)


def jax_tutorial_loss(params, image, target):
    preds = jax_tutorial_predict(params, image)
    return -np.sum(preds * target)


def forward_of_dicts(params, x):
    """A list of dicts with ``*hidden, last = params``."""
    *hidden, last = params
    for layer in hidden:
        x = np.tanh(np.dot(x, layer["weights"]) + layer["biases"])
    return np.dot(x, last["weights"]) + last["biases"]


def dicts_loss(params, x, y):
    return np.sum((forward_of_dicts(params, x) - y) ** 2)


class ModuleStyle:
    """Lists of weights and biases as attributes, as in an equinox or PyTorch module."""

    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        pairs = zip(sizes[:-1], sizes[1:])
        self.weights = [rng.standard_normal((m, n)) / np.sqrt(m) for m, n in pairs]
        self.biases = [np.zeros(n) for n in sizes[1:]]

    def __call__(self, x):
        h = x @ self.weights[0] + self.biases[0]
        for w, b in zip(self.weights[1:], self.biases[1:]):
            h = np.tanh(h) @ w + b
        return h

    def loss(self, x, y):
        return np.mean((self.forward(x) - y) ** 2)

    def forward(self, x):
        h = x @ self.weights[0] + self.biases[0]
        for w, b in zip(self.weights[1:], self.biases[1:]):
            h = np.tanh(h) @ w + b
        return h


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_jax_tutorial_mlp(backend):
    rng = np.random.default_rng(3)
    sizes = [5, 4, 4, 3]
    params = [(0.5 * rng.standard_normal((n, m)), 0.1 * rng.standard_normal(n))
              for m, n in zip(sizes[:-1], sizes[1:])]  # fmt: skip
    image, target = rng.standard_normal(5), np.eye(3)[1]
    check_tree_gradient(jax_tutorial_loss, (params, image, target), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_list_of_dicts_with_star_unpacking(backend):
    rng = np.random.default_rng(4)
    params = [{"weights": rng.standard_normal((m, n)), "biases": rng.standard_normal(n)}
              for m, n in ((3, 4), (4, 4), (4, 2))]  # fmt: skip
    check_tree_gradient(dicts_loss, (params, X, Y), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_module_with_lists_of_weights(backend):
    model = ModuleStyle([3, 4, 2])
    got = srcdiff.grad(model.loss, wrt="self", backend=backend)(X, Y)
    assert set(got) == {"weights", "biases"} and len(got["weights"]) == 2

    def as_function(params, x, y):
        model.weights, model.biases = params["weights"], params["biases"]
        return model.loss(x, y)

    params = {"weights": model.weights, "biases": model.biases}
    for path, _ in float_leaves(params):
        expected = fd_gradient(as_function, (params, X, Y), 0, path)
        np.testing.assert_allclose(get(got, path), expected, rtol=1e-5, atol=1e-8)
    model.weights, model.biases = params["weights"], params["biases"]


# --- what stays refused ------------------------------------------------------------------------


def key_at_run_time(params, X, k):
    return np.sum(X @ params[k])


def index_at_run_time(layers, X, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(X @ layers[i][0])
    return s


def writes_a_container(params, X):
    params["W1"] = params["W1"] * 2.0
    return np.sum(X @ params["W1"])


def returns_nothing_usable(params, X):
    return np.sum(params)


def breaks_out(layers, X):
    h = X
    for W, b in layers:
        if np.sum(h) > 100.0:
            break
        h = h @ W + b
    return np.sum(h)


def missing_key(params, X):
    return np.sum(X @ params["W3"])


def layer_of(params):
    return params["W1"], params


def rebinds(params, X):
    params = params["W1"]
    return np.sum(X @ params)


@pytest.mark.parametrize(
    ("f", "args", "snippet", "message"),
    [
        (key_at_run_time, (mlp_dict(), X, "W1"), "params[k]", "known only at run time"),
        (index_at_run_time, (mlp_layers(), X, 2), "layers[i][0]", r"range\(len\(layers\)\)"),
        (writes_a_container, (mlp_dict(), X), 'params["W1"] =', "writing into a dict"),
        (returns_nothing_usable, (mlp_dict(), X), "np.sum(params)", "used as a value"),
        (breaks_out, (mlp_layers(), X), "break\n", "unrolled"),
        (missing_key, (mlp_dict(), X), 'params["W3"]', "no key 'W3'"),
        (rebinds, (mlp_dict(), X), "params = ", "container argument"),
        (layer_of, (mlp_dict(),), "return params", "returning a dict"),
    ],
)
def test_refused_at_the_users_line(f, args, snippet, message):
    g = srcdiff.grad(f)
    with pytest.raises(SrcdiffError, match=message) as error:
        g(*args)
    assert f"test_pytrees.py:{statement_line(f, snippet)}:" in str(error.value)


def test_forward_mode_says_what_it_takes():
    with pytest.raises(SrcdiffError, match="forward mode takes numbers and arrays"):
        srcdiff.jvp(dict_loss)
    with pytest.raises(SrcdiffError, match="forward mode takes no containers"):
        srcdiff.jvp(over_params)((np.ones(2), np.ones(2)), X, np.ones(2))


def test_unsupported_syntax_is_still_reported_at_decoration():
    with pytest.raises(UnsupportedSyntaxError, match="try/except"):
        srcdiff.grad(tries)


def tries(x):
    try:
        y = x * 2.0
    except ValueError:
        y = x
    return y


# --- number types outside those srcdiff compiles -------------------------------------------


@pytest.mark.parametrize("kind", [np.float16, np.int8, np.uint8, np.complex128, complex])
def test_an_unsupported_number_type_is_refused_alike_at_every_call(kind):
    def f(p, x):
        return p["a"] * x + p["b"] * x * x

    gradient = srcdiff.grad(f)
    for _ in range(2):  # the second call once raised a NotImplementedError from inside
        with pytest.raises(SrcdiffError, match=f"a number of type {kind.__name__}"):
            gradient({"a": 1.0, "b": kind(2)}, 3.0)
    assert gradient({"a": 1.0, "b": 2.0}, 3.0) == {"a": 3.0, "b": 9.0}


def test_plain_calls_keep_the_fast_path_after_a_call_with_a_container():
    def f(p, x):
        return p[0] * x

    gradient = srcdiff.grad(f)
    assert gradient([2.0, 5.0], 3.0) == [3.0, 0.0]
    plain = np.array([2.0, 5.0])
    for _ in range(2):
        np.testing.assert_allclose(gradient(plain, 3.0), [3.0, 0.0])
    # the trampoline's code was swapped for the plain argument types
    assert gradient.__srcdiff__._codes
    assert gradient.__code__ is next(iter(gradient.__srcdiff__._codes.values()))


# --- a method's instance: only the attributes it reads --------------------------------------


class _Node:
    pass


class _Model:
    def __init__(self):
        self.W = np.array([1.0, 2.0])
        self.history = []

    def loss(self, x):
        return np.sum(self.W * x)

    def through_helper(self, x):
        return _helper_reading_b(self, x) + self.scaled(x)

    def scaled(self, x):
        return np.sum(self.W * x) * 2.0

    def cyclic(self, x):
        return np.sum(self.node.owner.W * x)


def _helper_reading_b(model, x):
    return model.b * np.sum(x)


def test_attributes_the_method_does_not_read_are_left_alone():
    import logging

    model = _Model()
    model.log = logging.getLogger("srcdiff-test")  # a reference cycle through its manager
    node = _Node()
    node.owner = model
    model.node = node
    model.opt = {"lr": 0.1, "fn": np.tanh}
    x = np.array([3.0, 4.0])
    np.testing.assert_allclose(srcdiff.grad(model.loss)(x), model.W)
    assert set(srcdiff.grad(model.loss, wrt="self")(x)) == {"W"}


def test_attributes_read_by_helpers_and_methods_called_with_self():
    model = _Model()
    model.b = 0.5
    x = np.array([3.0, 4.0])
    grads = srcdiff.grad(model.through_helper, wrt="self")(x)
    assert set(grads) == {"W", "b"}
    np.testing.assert_allclose(grads["W"], 2.0 * x)
    assert grads["b"] == pytest.approx(7.0)


def test_an_attribute_that_changes_but_is_not_read_compiles_once():
    model = _Model()
    gradient = srcdiff.grad(model.loss, wrt="self")
    for _ in range(4):
        gradient(np.array([3.0, 4.0]))
        model.history.append(1.0)
    assert len(gradient.__srcdiff__._structured.flats) == 1


def test_a_cycle_the_method_reads_through_is_a_clear_error():
    model = _Model()
    node = _Node()
    node.owner = model
    model.node = node
    with pytest.raises(SrcdiffError, match=r"test_pytrees.py:\d+:.*self.node"):
        srcdiff.grad(model.cyclic)(np.array([3.0, 4.0]))


def test_many_structures_warn():
    def f(p):
        return p[0] * 2.0

    gradient = srcdiff.grad(f, jit=False)
    with pytest.warns(RuntimeWarning, match="compiled 16 structures"):
        for n in range(1, 18):
            gradient([1.0] * n)
