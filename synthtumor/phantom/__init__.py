"""Procedural abdominal CT phantom: the embedded default when a user has no data.

``make_phantom(PhantomConfig(), phantom_seed(run_seed, index))`` builds one contrast CT of the
abdomen (body wall, spine, ribs, lung bases, heart, aorta, IVC, kidneys, spleen, stomach,
bowel and a lobed liver with branching portal and hepatic-vein trees) with its liver, vessel
and (optional) reference-lesion masks and a multi-label anatomy map. Units: mm and HU; world
coordinates are RAS+ with the origin near the centre of the field of view.

Reference lesions (``n_lesions``) are a stand-in for real annotated tumours, grown by a model
independent of synthtumor's generators; they are not real tumours.
"""

from __future__ import annotations

from synthtumor.phantom.build import Phantom, make_phantom, phantom_seed
from synthtumor.phantom.config import PHASES, PhantomConfig
from synthtumor.phantom.labels import LABELS, LEGEND

__all__ = ["PhantomConfig", "Phantom", "make_phantom", "phantom_seed", "PHASES", "LABELS", "LEGEND"]
