"""One word for each term the page teaches, in every language it speaks.

A student who reads 隐空间 on one tab and 潜在空间 on the next wonders whether they are two things. Each term
below is written one way in Chinese; `tests/ui/test_glossary.py` reads every Chinese string the page registers
and refuses the variants listed under `avoid`. Add a term here before a new tab uses it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    english: str
    chinese: str
    avoid: tuple[str, ...] = ()  # other Chinese renderings of the same term that the page must not use


TERMS = (
    # 隐 rather than 潜在: shorter (the Latent tab's label must fit a phone's tab bar) and the usual word in
    # Chinese VAE/GAN teaching material.
    Term("latent space", "隐空间", avoid=("潜在空间", "潜空间")),
    Term("latent vector", "隐向量", avoid=("潜在向量", "潜向量")),
    Term("latent dimension", "隐维度", avoid=("潜在维数", "潜在维度", "隐维数")),
    Term("generator", "生成器"),
    Term("discriminator", "判别器", avoid=("鉴别器", "辨别器")),
    Term("encoder", "编码器"),
    Term("decoder", "解码器"),
    Term("reconstruction", "重建", avoid=("重构",)),
    Term("prior", "先验"),
    Term("posterior", "后验"),
    Term("seed", "种子"),
    Term("truncation", "截断"),
    Term("interpolation", "插值"),
    Term("mode collapse", "模式崩溃", avoid=("模式坍塌",)),
    Term("posterior collapse", "后验崩溃", avoid=("后验坍塌",)),
    Term("principal component", "主成分"),
)


def variants_in(text: str) -> list[tuple[str, Term]]:
    """Each avoided rendering found in `text`, with the term it should have been written as."""
    return [(variant, term) for term in TERMS for variant in term.avoid if variant in text]
