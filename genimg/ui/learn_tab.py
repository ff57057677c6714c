"""Learn tab: what a GAN and a VAE optimise, in a few sentences and their formulas, in both languages."""

from __future__ import annotations

import gradio as gr

from genimg.ui.i18n import LATEX, register, t

ENGLISH = {
    "learn.tab": "Learn",
    "learn.gan": r"""
### GAN: two networks in a game
A **generator** $G$ turns noise $z \sim \mathcal{N}(0, I)$ into an image $G(z)$. A **discriminator** $D$ looks at an
image and outputs the probability that it is real. They play the minimax game of Goodfellow et al. (2014):

$$\min_G \max_D \; \mathbb{E}_{x \sim p_{\text{data}}}[\log D(x)] + \mathbb{E}_{z \sim p(z)}[\log(1 - D(G(z)))]$$

$D$ is trained to tell real from generated; $G$ is trained to make $D$ wrong. genimg trains $G$ with the
**non-saturating** loss $-\log D(G(z))$, which gives strong gradients early on, when $D$ easily wins. With a
perfect $D$, the game minimises the Jensen–Shannon divergence between the data and the generator's distribution.
What to watch in the Train tab: $D(x)$ (how real $D$ finds real images) and $D(G(z))$; if $D(G(z))$ stays near 0,
the generator is losing; if the samples all look alike, the generator has **collapsed** onto a few modes.
""",
    "learn.vae": r"""
### VAE: compress, sample, rebuild
An **encoder** maps an image $x$ to a Gaussian over codes, $q(z \mid x) = \mathcal{N}(\mu(x), \sigma(x)^2)$; a
**decoder** maps a code back to an image distribution $p(x \mid z)$. Training maximises the **evidence lower bound**
(Kingma & Welling, 2014):

$$\log p(x) \;\ge\; \underbrace{\mathbb{E}_{q(z \mid x)}[\log p(x \mid z)]}_{\text{reconstruction}} \;-\; \underbrace{\mathrm{KL}\big(q(z \mid x)\,\|\,\mathcal{N}(0, I)\big)}_{\text{stay close to the prior}}$$

Sampling $z$ would block gradients, so the **reparameterisation trick** writes $z = \mu + \sigma \odot \epsilon$ with
$\epsilon \sim \mathcal{N}(0, I)$. genimg reports $-\mathrm{ELBO}$ in **nats per image** (lower is better) with its two
terms apart. The KL term (for Gaussians: $\tfrac12\sum_j \mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2$) is what makes the
latent space smooth enough to sample from and to walk through; a β above 1 weighs it more (β-VAE). If KL falls to
about 0, the decoder ignores the code: **posterior collapse**.
""",
    "learn.compare": r"""
### GAN or VAE?
| | GAN | VAE |
|---|---|---|
| trained by | a game against a discriminator | maximising the ELBO |
| gives an encoder | no (inversion by optimisation) | yes, $q(z \mid x)$ |
| gives a likelihood bound | no | yes, in nats |
| typical samples | sharp, may miss modes | cover the data, can be blurry |
""",
}

CHINESE = {
    "learn.tab": "学习",
    "learn.gan": r"""
### GAN：两个网络的博弈
**生成器** $G$ 把噪声 $z \sim \mathcal{N}(0, I)$ 变成图像 $G(z)$。**判别器** $D$ 观察一张图像，输出它是真实图像的概率。
二者进行 Goodfellow 等人（2014）提出的极小极大博弈：

$$\min_G \max_D \; \mathbb{E}_{x \sim p_{\text{data}}}[\log D(x)] + \mathbb{E}_{z \sim p(z)}[\log(1 - D(G(z)))]$$

$D$ 学习区分真实与生成的图像；$G$ 学习让 $D$ 判断出错。genimg 用**非饱和**损失 $-\log D(G(z))$ 训练 $G$，
在训练初期 $D$ 轻易获胜时仍能提供足够强的梯度。若 $D$ 是最优的，这个博弈等价于最小化数据分布与生成分布之间的
Jensen–Shannon 散度。在“训练”页中请留意 $D(x)$（判别器认为真实图像有多真）和 $D(G(z))$：若 $D(G(z))$ 一直接近 0，
说明生成器在输；若所有样本看起来都差不多，说明生成器发生了**模式崩溃**。
""",
    "learn.vae": r"""
### VAE：压缩、采样、重建
**编码器**把图像 $x$ 映射为隐编码上的高斯分布 $q(z \mid x) = \mathcal{N}(\mu(x), \sigma(x)^2)$；**解码器**把编码映射回
图像分布 $p(x \mid z)$。训练目标是最大化**证据下界（ELBO）**（Kingma 与 Welling，2014）：

$$\log p(x) \;\ge\; \underbrace{\mathbb{E}_{q(z \mid x)}[\log p(x \mid z)]}_{\text{重建}} \;-\; \underbrace{\mathrm{KL}\big(q(z \mid x)\,\|\,\mathcal{N}(0, I)\big)}_{\text{贴近先验}}$$

直接采样 $z$ 会阻断梯度，因此用**重参数化技巧**写成 $z = \mu + \sigma \odot \epsilon$，其中 $\epsilon \sim \mathcal{N}(0, I)$。
genimg 以**每张图像的奈特（nats）**报告 $-\mathrm{ELBO}$（越低越好），并分别给出两项。KL 项（高斯情形下为
$\tfrac12\sum_j \mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2$）使隐空间足够平滑，便于采样和在其中漫游；β 大于 1 时更看重这一项（β-VAE）。
若 KL 降到约 0，解码器便忽略了编码：这就是**后验崩塌**。
""",
    "learn.compare": r"""
### GAN 还是 VAE？
| | GAN | VAE |
|---|---|---|
| 训练方式 | 与判别器博弈 | 最大化 ELBO |
| 是否有编码器 | 没有（需通过优化来反演） | 有，$q(z \mid x)$ |
| 是否给出似然下界 | 否 | 是，单位为奈特 |
| 典型样本 | 清晰，可能遗漏某些模式 | 覆盖数据，可能偏模糊 |
""",
}

register(ENGLISH, CHINESE)


def build_learn_tab() -> None:
    """Lay out the tab inside the current gr.Blocks / gr.Tab."""
    with gr.Row():
        gr.Markdown(t("learn.gan"), latex_delimiters=LATEX, elem_id="learn-gan")
        gr.Markdown(t("learn.vae"), latex_delimiters=LATEX, elem_id="learn-vae")
    gr.Markdown(t("learn.compare"), latex_delimiters=LATEX, elem_id="learn-compare")
