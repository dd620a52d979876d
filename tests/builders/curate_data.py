"""Small synthetic MCQs for the curate tests: every dimension's golds are distinct phrases, questions follow a
few templates, items come from `slides` slides; the five items of a region share its path_id."""

from __future__ import annotations

from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.item import ImageRefs, Item

ADJ = ["dense", "scattered", "focal", "diffuse", "patchy", "nodular", "linear", "sparse", "marked", "subtle",
       "prominent", "rare"]
NOUN = ["fibrosis", "necrosis", "mitoses", "vacuoles", "haemorrhage", "calcification", "mucin", "keratin",
        "lymphocytes", "granulomas", "oedema", "pigment"]
PLACE = ["stroma", "epithelium", "lumen", "capsule", "margin", "glands", "vessels", "septa", "surface", "core",
         "periphery", "interstitium"]
DIAGNOSES = ["Glioblastoma", "Invasive squamous cell carcinoma", "Lung adenocarcinoma", "Leiomyoma",
             "Clear cell renal cell carcinoma", "Papillary thyroid carcinoma", "Hepatocellular carcinoma",
             "Colorectal adenocarcinoma", "Melanoma", "Seminoma", "Urothelial carcinoma", "Meningioma"]
TEMPLATES = ["Which option best describes the {d} finding in this set of images?",
             "Based on the images provided, which statement fits the {d} question best?"]


def gold(dim: Dimension, r: int) -> str:
    if dim is Dimension.DIAGNOSIS:
        return DIAGNOSES[r % len(DIAGNOSES)]
    j = DIMENSIONS.index(dim)
    return f"{ADJ[(r + j) % 12].capitalize()} {NOUN[(r * 5 + j) % 12]} within the {PLACE[(r * 7 + 3 * j) % 12]}"


def make_items(regions: int = 8, slides: int = 8, split: str = "val") -> list[Item]:
    """`regions` regions (one per slide, cycling), each with one item per dimension."""
    items = []
    for r in range(regions):
        slide = f"slide{r % slides}"
        for dim in DIMENSIONS:
            n = len(items)
            g = gold(dim, r)
            opts = [g, f"{g} and more", f"No {g.lower()}", f"{g}, focally"]
            items.append(Item(
                id=f"{split}-{n:05d}", question=TEMPLATES[r % 2].format(d=dim.value), options=tuple(opts),
                answer="A", dimension=dim, rationale=f"because of region {r}",
                images=ImageRefs(f"{slide}/r{r}_lo.jpg", f"{slide}/r{r}_mid.jpg", f"{slide}/r{r}_hi.jpg"),
                wsi_name=slide, path_id=f"r{r}", split=split, number=n))
    return items
