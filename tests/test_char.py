"""CharLSTM, Vocab, checkpoints, char tasks and the TextGenerator."""

from __future__ import annotations

import pytest
import torch
from shared_data import SYNTHETIC_TUNES, DataSets

from livegen.data.lyrics import Song
from livegen.errors import LivegenError
from livegen.nets.char import UNKNOWN, CharConfig, CharLSTM, Vocab, char_loss
from livegen.nets.checkpoint import load_checkpoint, save_checkpoint
from livegen.training.char_tasks import (
    SEPARATOR,
    abc_splits,
    build_vocab,
    char_task,
    encode_song,
    evaluate_char_model,
    load_char_model,
    text_task,
    train_char_model,
)
from livegen.training.loop import TrainConfig
from livegen.voices.text import TextGenerator

TEXTS = ["the cat sat on the mat\nand sang\n", "O bury me not\non the lone prairie\n"]
LABELS = ["cowboy", "cats", "hymns"]




def _net(n_labels: int = 3, mode: str = "embedding", layers: int = 2, seed: int = 0) -> tuple[CharLSTM, Vocab]:
    torch.manual_seed(seed)
    vocab = build_vocab(TEXTS, min_count=1)
    net = CharLSTM(CharConfig(len(vocab), embed=12, hidden=24, layers=layers, n_labels=n_labels,
                              label_dim=5, label_mode=mode))
    return net.eval(), vocab


# --- vocabulary ---------------------------------------------------------------------------

def test_vocab_reserves_unknown_and_never_crashes_on_unseen_chars() -> None:
    vocab = build_vocab(TEXTS, min_count=1)
    assert vocab.chars[0] == UNKNOWN and vocab.chars[1] == SEPARATOR
    ids = vocab.encode("cat€ÞX")
    assert ids.dtype == torch.long and ids.shape == (6,)
    assert ids[3:].tolist() == [0, 0, 0]  # unseen -> unknown id
    assert vocab.decode(vocab.encode("the cat")) == "the cat"
    assert vocab.decode(ids) == "cat" + UNKNOWN * 3


def test_vocab_min_count_maps_rare_chars_to_unknown() -> None:
    vocab = Vocab.build(["aaab", "aac"], min_count=2)
    assert "a" in vocab and "b" not in vocab and "c" not in vocab
    assert vocab.encode("b").tolist() == [0]
    with pytest.raises(ValueError):
        Vocab(["a", "b"])  # first char must be the unknown marker


# --- the net ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["embedding", "onehot"])
def test_step_agrees_with_forward(mode: str) -> None:
    net, vocab = _net(mode=mode)
    x = torch.randint(0, len(vocab), (3, 40), generator=torch.Generator().manual_seed(1))
    cond = torch.tensor([0, 2, 1])
    with torch.no_grad():
        full, (h, c) = net(x, None, cond)
        state = None
        steps = []
        for t in range(x.shape[1]):
            logits, state = net.step(x[:, t], state, cond)
            steps.append(logits)
    assert full.shape == (3, 40, len(vocab))
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=0)
    torch.testing.assert_close(state[0], h, atol=1e-5, rtol=0)
    torch.testing.assert_close(state[1], c, atol=1e-5, rtol=0)
    # the state carries across calls: two halves equal the whole
    with torch.no_grad():
        a, st = net(x[:, :17], None, cond)
        b, _ = net(x[:, 17:], st, cond)
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-5, rtol=0)


# --- the copy head ------------------------------------------------------------------------

def _copy_net(size: int = 64, seed: int = 0) -> tuple[CharLSTM, Vocab]:
    torch.manual_seed(seed)
    vocab = build_vocab(TEXTS, min_count=1)
    net = CharLSTM(CharConfig(len(vocab), embed=12, hidden=24, layers=1, copy=size))
    return net.eval(), vocab


def test_copy_head_step_chunks_and_forward_agree() -> None:
    net, vocab = _copy_net()
    x = torch.randint(0, len(vocab), (2, 50), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full, state_full = net(x)
        state, steps = None, []
        for t in range(x.shape[1]):
            out, state = net.step(x[:, t], state)
            steps.append(out)
        a, st = net(x[:, :23])
        b, _ = net(x[:, 23:], st)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-5, rtol=0)
    assert len(state_full) == 4 and state_full[2].shape == (2, 50, 24)
    # exact distributions: every step's output is a normalised log-probability vector
    torch.testing.assert_close(torch.logsumexp(full, -1), torch.zeros(2, 50), atol=1e-5, rtol=0)


def test_copy_head_copies_what_followed_and_forgets_beyond_its_size() -> None:
    net, vocab = _copy_net(size=8)
    with torch.no_grad():
        net.copy_head.gate.bias.fill_(30.0)  # trust the copy distribution alone
        x = vocab.encode(SEPARATOR + "tatata").unsqueeze(0)
        log_p, state = net(x)
    p = log_p[0, -1].exp()
    # only characters that followed something earlier in the stream can be copied
    followed = {vocab.index(ch) for ch in "ta"}
    assert float(p[sorted(followed)].sum()) > 0.999
    with torch.no_grad():
        _, state = net(vocab.encode("the cat sat").unsqueeze(0), state)
    assert state[2].shape[1] == 8 and state[3].shape[1] == 8


def test_copy_head_trains_with_gradient_checkpointing() -> None:
    from livegen.training.loop import segment_loss

    net, vocab = _copy_net()
    net.train()
    ids = vocab.encode(SEPARATOR + TEXTS[0] + TEXTS[1]).unsqueeze(0)
    x, y, mask = ids[:, :-1], ids[:, 1:], torch.ones(1, ids.shape[1] - 1)
    grads = []
    for every in (0, 9):
        net.zero_grad()
        loss, _ = segment_loss(net, char_loss, x, y, mask, None, None, every)
        loss.backward()
        grads.append({k: p.grad.clone() for k, p in net.named_parameters()})
    assert float(grads[0]["copy_head.log_theta"].abs()) > 0
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["embedding", "onehot"])
def test_conditioning_changes_next_char_distribution(mode: str) -> None:
    net, vocab = _net(mode=mode)
    x = vocab.encode(SEPARATOR + "the cat").unsqueeze(0).repeat(3, 1)
    with torch.no_grad():
        logits, _ = net(x, None, torch.tensor([0, 1, 2]))
    p = torch.softmax(logits[:, -1], -1)
    for i in range(3):
        for j in range(i + 1, 3):
            assert (p[i] - p[j]).abs().sum() > 1e-3
    # no label (None) gives zero label vectors, which differ from every real label
    with torch.no_grad():
        plain, _ = net(x[:1], None, None)
    assert (torch.softmax(plain[0, -1], -1) - p[0]).abs().sum() > 1e-3


def test_label_out_of_range_and_unconditioned_net() -> None:
    net, vocab = _net()
    x = vocab.encode("cat").unsqueeze(0)
    with pytest.raises(ValueError):
        net(x, None, torch.tensor([3]))
    plain, _ = _net(n_labels=0)
    a, _ = plain(x, None, None)
    b, _ = plain(x, None, torch.tensor([2]))  # ignored
    assert torch.equal(a, b)


def test_char_loss_is_cross_entropy_per_char() -> None:
    logits = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(0))
    target = torch.randint(0, 7, (2, 5), generator=torch.Generator().manual_seed(1))
    loss = char_loss(logits, target)
    assert loss.shape == (2, 5)
    expected = -torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(loss, expected)


def test_checkpoint_round_trip_keeps_vocab_and_labels(tmp_path) -> None:
    net, vocab = _net(mode="onehot")
    path = tmp_path / "char.pt"
    save_checkpoint(path, net, {"vocab": vocab.to_list(), "labels": LABELS, "separator": SEPARATOR})
    model, vocab2, labels2, meta = load_char_model(path)
    assert vocab2 == vocab and labels2 == LABELS and meta["separator"] == SEPARATOR
    assert model.config == net.config and not model.training
    x = vocab.encode(SEPARATOR + "O bury").unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(model(x, None, torch.tensor([1]))[0], net(x, None, torch.tensor([1]))[0])
    generic, _ = load_checkpoint(path)
    assert isinstance(generic, CharLSTM)


def test_load_char_model_rejects_other_kinds(tmp_path) -> None:
    from livegen.nets.roll import RollConfig, RollLSTM

    path = tmp_path / "roll.pt"
    save_checkpoint(path, RollLSTM(RollConfig(hidden=8, layers=1)), {})
    with pytest.raises(LivegenError, match="character"):
        load_char_model(path)


# --- tasks --------------------------------------------------------------------------------

def test_char_task_wraps_each_song_in_separators() -> None:
    songs = [Song(f"song number {i}\nla la la\n", LABELS[i % 3]) for i in range(60)]
    vocab = build_vocab([s.text for s in songs], min_count=1)
    task = char_task(songs, vocab, LABELS, valid_fraction=0.2)
    assert len(task.train) + len(task.valid) == 60 and task.valid
    sep = vocab.index(SEPARATOR)
    for seq in task.train + task.valid:
        assert seq.dtype == torch.long and seq[0] == sep and seq[-1] == sep
        assert sep not in seq[1:-1].tolist()
    texts = {vocab.decode(s[1:-1]) for s in task.train + task.valid}
    assert texts == {s.text for s in songs}
    by_text = {s.text: LABELS.index(s.label) for s in songs}
    for seq, lab in zip(task.valid, task.valid_labels, strict=True):
        assert by_text[vocab.decode(seq[1:-1])] == lab
    assert encode_song("ab", vocab).tolist()[1:3] == vocab.encode("ab").tolist()


def test_abc_splits_and_text_task(named_datasets: DataSets) -> None:
    splits = abc_splits("irish")
    assert sum(len(v) for v in splits.values()) == named_datasets.pick(804, SYNTHETIC_TUNES)
    assert len(splits["test"]) > len(splits["valid"]) > named_datasets.pick(20, 5)
    assert all(t.startswith("X:") for v in splits.values() for t in v)
    vocab = build_vocab(splits["train"], min_count=1)
    task = text_task(splits["train"], splits["valid"], vocab)
    assert task.train_labels is None and len(task.valid) == len(splits["valid"])
    with pytest.raises(LivegenError):
        abc_splits("/no/such/tunes.abc")


def test_train_abc_model_scores_valid_and_test(tmp_path, datasets: DataSets) -> None:
    tunes = datasets.irish.read_text().split("\nX:")[:80]
    small = tmp_path / "small.abc"
    small.write_text("\nX:".join(tunes) + "\n")
    out = tmp_path / "abc.pt"
    train_char_model("abc", str(small), out, TrainConfig(epochs=1, batch_size=16, window=50, threads=1),
                     hidden=8, layers=1, embed=8)
    model, vocab, labels, meta = load_char_model(out)
    assert labels == [] and model.config.n_labels == 0 and meta["text_kind"] == "abc"
    assert meta["split"]["train"] + meta["split"]["valid"] + meta["split"]["test"] == 80
    assert meta["metrics"]["test_songs"] == meta["split"]["test"] > 0
    assert 0 < meta["metrics"]["test_nats_per_char"] < 5.0
    result = evaluate_char_model(model, meta, str(small), "test")
    assert result["nats_per_char"] == pytest.approx(meta["metrics"]["test_nats_per_char"], abs=1e-4)


def test_warm_start_adds_a_copy_head_and_key_augmentation(tmp_path, datasets: DataSets) -> None:
    tunes = datasets.irish.read_text().split("\nX:")[:60]
    small = tmp_path / "small.abc"
    small.write_text("\nX:".join(tunes) + "\n")
    cfg = TrainConfig(epochs=1, batch_size=16, window=50, threads=1)
    plain = tmp_path / "plain.pt"
    train_char_model("abc", str(small), plain, cfg, hidden=8, layers=1, embed=8)
    warm = tmp_path / "warm.pt"
    train_char_model("abc", str(small), warm, TrainConfig(epochs=1, batch_size=16, window=50, threads=1, lr=1e-9),
                     hidden=8, layers=1, embed=8, copy=64, init=plain, transpose_keys=(-1, 2))
    a, _, _, _ = load_char_model(plain)
    b, _, _, meta = load_char_model(warm)
    assert b.copy_head is not None and meta["train"]["transpose_keys"] == [-1, 2]
    # the LSTM starts from the first model's weights (a tiny LR leaves them almost unchanged)
    torch.testing.assert_close(b.lstm.weight_hh_l0, a.lstm.weight_hh_l0, atol=1e-6, rtol=0)
    with pytest.raises(LivegenError, match="--init"):
        train_char_model("abc", str(small), tmp_path / "x.pt", cfg, hidden=16, layers=1, embed=8, init=plain)


def test_train_char_model_writes_vocab_labels_and_held_out_score(tmp_path, datasets: DataSets) -> None:
    out = tmp_path / "nursery.pt"
    data = datasets.public_domain
    cfg = TrainConfig(epochs=1, batch_size=32, window=50, threads=1)
    result = train_char_model("lyrics", str(data), out, cfg, hidden=16, layers=1, embed=8,
                              artists=["nursery_rhymes", "Moore_Irish_Melodies"])
    model, vocab, labels, meta = load_char_model(out)
    assert labels == ["moore_irish_melodies", "nursery_rhymes"] and model.config.n_labels == 2
    assert meta["separator"] == SEPARATOR and len(vocab) == model.config.vocab_size
    m = meta["metrics"]
    assert m["valid_nats_per_char"] == pytest.approx(result.best_valid_nll, abs=1e-4)
    assert 0 < m["valid_nats_per_char"] < 4.6  # below a uniform guess over ~90 chars
    assert set(m["valid_nats_per_char_by_label"]) == set(labels)
    ev = evaluate_char_model(model, meta, str(data), "test")
    assert ev["split"] == "held-out (valid)"
    assert ev["nats_per_char"] == pytest.approx(m["valid_nats_per_char"], abs=1e-4)
    with pytest.raises(LivegenError, match="carry one of the model's labels"):
        evaluate_char_model(model, meta, str(data / "cowboy_songs.txt"), "valid")
    with pytest.raises(LivegenError, match="unknown character-model kind"):
        train_char_model("poems", str(data), out, cfg)


# --- the generator ------------------------------------------------------------------------

def test_generator_labels_and_unknown_label() -> None:
    net, vocab = _net()
    gen = TextGenerator(net, vocab, LABELS, seed=0)
    assert gen.label == "cowboy"
    gen.set_label("HYMNS")
    assert gen.label == "hymns"
    with pytest.raises(LivegenError, match="cowboy, cats, hymns"):
        gen.set_label("jazz")
    plain, pv = _net(n_labels=0)
    with pytest.raises(LivegenError):
        TextGenerator(plain, pv, [], seed=0).set_label("cats")


def test_generator_is_seeded_and_resettable_and_survives_unseen_chars() -> None:
    net, vocab = _net()
    a = TextGenerator(net, vocab, LABELS, seed=5)
    a.prime("Ünïcode ☃ the")
    first = a.sample_chars(60, 1.0)
    b = TextGenerator(net, vocab, LABELS, seed=5)
    b.prime("Ünïcode ☃ the")
    assert b.sample_chars(60, 1.0) == first
    assert UNKNOWN not in first  # the unknown id is never emitted
    c = TextGenerator(net, vocab, LABELS, seed=6)
    c.prime("Ünïcode ☃ the")
    assert c.sample_chars(60, 1.0) != first
    a.reset()
    assert a.state is not None  # reset feeds the separator: a fresh song start
    assert a.next_line(1.0, max_chars=30) != "" and "\n" not in a.next_line(1.0, max_chars=30)


def test_set_label_changes_the_pending_distribution() -> None:
    net, vocab = _net()
    gen = TextGenerator(net, vocab, LABELS, seed=0)
    gen.prime("the cat")
    before = torch.softmax(gen._logits, -1)
    gen.set_label("hymns")
    after = torch.softmax(gen._logits, -1)
    assert (before - after).abs().sum() > 1e-3
    # equals priming from scratch... for the last character only: recompute by hand
    ref = TextGenerator(net, vocab, LABELS, seed=0)
    ref.prime("the ca")
    ref._label = 2
    ref.prime("t")
    torch.testing.assert_close(after, torch.softmax(ref._logits, -1))


def test_zero_temperature_is_greedy_whatever_the_seed() -> None:
    net, vocab = _net()
    lines = []
    for seed in (0, 1, 2):
        gen = TextGenerator(net, vocab, LABELS, seed=seed, sampler="gumbel" if seed else "softmax")
        gen.prime("the")
        lines.append(gen.sample_chars(40, temperature=0.0))
    assert lines[0] == lines[1] == lines[2]
    gen = TextGenerator(net, vocab, LABELS, seed=0)
    gen.prime("the")
    masked = gen._logits.clone()
    masked[vocab.unk] = -torch.inf
    greedy = vocab.chars[int(masked.argmax())]
    assert gen.sample_chars(1, 0.0) == ("\n\n" if greedy == SEPARATOR else greedy)


# --- the command --------------------------------------------------------------------------

def test_lyrics_command_prints_n_lines_starting_with_the_prime(tmp_path, capsys) -> None:
    from livegen.cli import main

    net, vocab = _net()
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, net, {"vocab": vocab.to_list(), "labels": LABELS, "separator": SEPARATOR})
    args = ["lyrics", "--model", str(path), "--artist", "cats", "--prime", "the cat", "--lines", "5",
            "--max-chars", "40", "--seed"]
    assert main([*args, "2"]) == 0
    out = capsys.readouterr().out
    lines = out.split("\n")
    assert len(lines) == 6 and lines[-1] == "" and lines[0].startswith("the cat")
    assert main([*args, "2"]) == 0
    assert capsys.readouterr().out == out  # same seed, same lines
    assert main([*args, "3"]) == 0
    assert capsys.readouterr().out != out
    assert main(["lyrics", "--model", str(path), "--artist", "jazz"]) == 2
    assert "known labels: cowboy, cats, hymns" in capsys.readouterr().err
    assert main(["lyrics", "--model", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err


# --- the shipped model --------------------------------------------------------------------

def test_shipped_lyrics_model_has_learned_its_labels(datasets: DataSets) -> None:
    """On one held-out song per collection, the song's own label explains it better than
    the average other label (and best of all for most collections)."""
    from pathlib import Path

    from livegen.training.char_tasks import char_splits

    model, vocab, labels, meta = load_char_model(Path(__file__).parents[1] / "models" / "lyrics.pt")
    assert len(labels) == 8 and meta["text_kind"] == "lyrics" and len(vocab) == model.config.vocab_size
    assert meta["metrics"]["valid_nats_per_char"] < 1.7
    datasets.require_real("public-domain lyrics the shipped lyrics model was trained on")
    valid = char_splits("lyrics", meta["data"], None, meta["split"]["valid_fraction"])["valid"]
    best = 0
    for i, label in enumerate(labels):
        song = next(s for s in valid if s.label == label)
        x = encode_song(song.text, vocab)[:301].unsqueeze(0).repeat(len(labels), 1)
        with torch.no_grad():
            logits, _ = model(x[:, :-1], None, torch.arange(len(labels)))
        nll = char_loss(logits, x[:, 1:]).mean(1)
        others = torch.cat([nll[:i], nll[i + 1:]])
        assert nll[i] < others.mean(), label
        best += int(nll[i] <= others.min())
    assert best >= 4
