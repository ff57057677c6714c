"""Learn tab: what a GAN, a VAE and a flow optimise, in a few sentences and their formulas, and how the three compare,
in both languages: the objectives behind the numbers the Train tab plots."""

from __future__ import annotations

import re

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
To see it happen on points you can see, with a VAE and a flow learning the same distribution beside it, open the [Playground](?view=playground) tab.
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
    "learn.flow": r"""
### Flow matching: a straight road from noise to picture
Pair noise $x_0 \sim \mathcal{N}(0, I)$ with an image $x_1$: the straight path $x_t = (1-t)\,x_0 + t\,x_1$ joins
them at the constant velocity $x_1 - x_0$. A network $v_\theta(x_t, t)$ learns that velocity from the point and the
time alone (conditional flow matching, Lipman et al., 2023; rectified flow, Liu et al., 2023):

$$\mathcal{L}(\theta) = \mathbb{E}_{t \sim \mathcal{U}[0, 1],\, x_0,\, x_1}\big\|v_\theta(x_t, t) - (x_1 - x_0)\big\|^2$$

To draw, integrate $\tfrac{dx}{dt} = v_\theta(x, t)$ from the noise at $t = 0$ (a flow's latent is that noise image)
to $t = 1$: **Euler** steps call the network once each, **Heun** steps twice (more exact); more steps are finer and
slower. Run backwards, the same ODE takes a picture to the noise that draws it, exactly up to the solver's error:
no encoder (the VAE's way) and no optimisation (a GAN's inversion). A conditional flow is trained without its class
on 10% of the rows, so it also knows the unconditional velocity, and samples with **classifier-free guidance**
$v = v(x, t, \varnothing) + g\,(v(x, t, c) - v(x, t, \varnothing))$ ($g = 1$: plain conditional). What to watch in
the Train tab: the loss on each third of the path (near the noise, mid-path, near the picture). It never reaches 0:
where straight paths cross, one point at one time has several velocities, and the network can only learn their mean.
""",
    "learn.compare": r"""
### GAN, VAE or flow?
| | GAN | VAE | flow |
|---|---|---|---|
| trained by | a game against a discriminator | maximising the ELBO | regressing a velocity |
| gives an encoder | no (inversion by optimisation) | yes, $q(z \mid x)$ | an exact inverse: the ODE run backwards |
| gives a likelihood | no | a bound, in nats | exact in principle, by the change of variables (genimg does not compute it) |
| sampling | one network pass | one network pass | many ODE steps (1 or 2 network calls each) |
| typical samples | sharp, may miss modes | cover the data, can be blurry | cover the data; rough in few steps, finer in more |
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
想在看得见的二维点上亲眼看到这一点，并看 VAE 和流模型在旁边学习同一个分布，请打开[游乐场](?view=playground&lang=zh-CN)页。
""",
    "learn.vae": r"""
### VAE：压缩、采样、重建
**编码器**把图像 $x$ 映射为隐编码上的高斯分布 $q(z \mid x) = \mathcal{N}(\mu(x), \sigma(x)^2)$；**解码器**把编码映射回
图像分布 $p(x \mid z)$。训练目标是最大化**证据下界（ELBO）**（Kingma 与 Welling，2014）：

$$\log p(x) \;\ge\; \underbrace{\mathbb{E}_{q(z \mid x)}[\log p(x \mid z)]}_{\text{重建}} \;-\; \underbrace{\mathrm{KL}\big(q(z \mid x)\,\|\,\mathcal{N}(0, I)\big)}_{\text{贴近先验}}$$

直接采样 $z$ 会阻断梯度，因此用**重参数化技巧**写成 $z = \mu + \sigma \odot \epsilon$，其中 $\epsilon \sim \mathcal{N}(0, I)$。
genimg 以**每张图像的奈特**（nats）报告 $-\mathrm{ELBO}$（越低越好），并分别给出两项。KL 项（高斯情形下为
$\tfrac12\sum_j \mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2$）使隐空间足够平滑，便于采样和在其中漫游；β 大于 1 时更看重这一项（β-VAE）。
若 KL 降到约 0，解码器便忽略了编码：这就是**后验崩溃**。
""",
    "learn.flow": r"""
### 流匹配：从噪声到图像的一条直路
把噪声 $x_0 \sim \mathcal{N}(0, I)$ 与一张图像 $x_1$ 配成一对：直线路径 $x_t = (1-t)\,x_0 + t\,x_1$ 以恒定速度
$x_1 - x_0$ 连接二者。网络 $v_\theta(x_t, t)$ 只看位置和时间，学习预测这个速度（条件流匹配：Lipman 等人，2023；
整流：Liu 等人，2023）：

$$\mathcal{L}(\theta) = \mathbb{E}_{t \sim \mathcal{U}[0, 1],\, x_0,\, x_1}\big\|v_\theta(x_t, t) - (x_1 - x_0)\big\|^2$$

生成时，把 $\tfrac{dx}{dt} = v_\theta(x, t)$ 从 $t = 0$ 的噪声（流模型的隐向量就是这张噪声图像）积分到
$t = 1$：**Euler 法**每步调用网络 1 次，**Heun 法**每步 2 次（更精确）；步数越多越精细，也越慢。把同一个常微分方程（ODE）
倒着解，图像便回到画出它的噪声，除求解器的误差外完全精确：不需要 VAE 那样的编码器，也不需要 GAN 反演那样的优化。
条件流模型训练时有 10% 的样本去掉类别，因此也学会了无条件的速度，采样时使用**无分类器引导**
$v = v(x, t, \varnothing) + g\,(v(x, t, c) - v(x, t, \varnothing))$（$g = 1$ 即普通的条件生成）。在“训练”页中请留意
路径每三分之一段上的损失（靠近噪声处、路径中段、靠近图像处）。它永远降不到 0：直线路径相交处，同一时间的同一点
有多个速度，网络只能学到它们的平均。
""",
    "learn.compare": r"""
### GAN、VAE 还是流模型？
| | GAN | VAE | 流模型 |
|---|---|---|---|
| 训练方式 | 与判别器博弈 | 最大化 ELBO | 回归速度 |
| 是否有编码器 | 没有（需通过优化来反演） | 有，$q(z \mid x)$ | 精确可逆：把 ODE 倒着解 |
| 是否给出似然 | 否 | 给出下界，单位为奈特 | 原理上可由变量替换公式精确算出（genimg 不计算） |
| 采样 | 网络一次前向 | 网络一次前向 | ODE 的许多步（每步 1 或 2 次网络调用） |
| 典型样本 | 清晰，可能遗漏某些模式 | 覆盖数据，可能偏模糊 | 覆盖数据；步数少时粗糙，多时精细 |
""",
}

_CHINESE_CHARACTER = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def join_chinese_lines(text: str) -> str:
    """`text` with the line breaks inside a paragraph that fall between two Chinese characters or punctuation marks
    removed: Chinese has no spaces between words, but a browser shows each line break of the source as one."""
    lines = text.split("\n")
    joined = [lines[0]]
    for line in lines[1:]:
        previous = joined[-1]
        inside_paragraph = previous and line and not previous.startswith(("#", "|", "$$"))
        if inside_paragraph and _CHINESE_CHARACTER.fullmatch(previous[-1]) and _CHINESE_CHARACTER.fullmatch(line[0]):
            joined[-1] = previous + line
        else:
            joined.append(line)
    return "\n".join(joined)


CHINESE = {key: join_chinese_lines(text) for key, text in CHINESE.items()}

register(ENGLISH, CHINESE)


def build_learn_tab() -> None:
    """Lay out the tab inside the current gr.Blocks / gr.Tab."""
    # Side by side on a desktop; a column's min_width makes them stack on a phone instead of squeezing three formulas
    # into a third of its width each.
    with gr.Row():
        for section in ("gan", "vae", "flow"):
            with gr.Column(min_width=300):
                gr.Markdown(t(f"learn.{section}"), latex_delimiters=LATEX, elem_id=f"learn-{section}")
    gr.Markdown(t("learn.compare"), latex_delimiters=LATEX, elem_id="learn-compare")
