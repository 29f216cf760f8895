"""Stray non-content lines: recognised by what they are, not by their exact words.

A line here is one block of the extracted text (a paragraph, heading, list
item) or one ``<br>``-separated line inside it.  ``classify(line)`` returns a
reason when the line is page furniture rather than article text:

- ``no-words``        no letters at all: counters ("0", "12 | 4"), separators, symbols
- ``counter``         a number with a counter word: "Comments (0)", "3 Likes", "1.2k views"; a bare
                      small number ("0") or a widget's reading ("71°F")
- ``share-widget``    made only of share/social/print vocabulary: "Share", "Tweet", "Share on Facebook"
- ``system-status``   CMS, cron and UI status output: "Cron Job Starts", "... published successfully",
                      "Post is under moderation", "Loading...", "There are no activities here yet"
- ``activity-feed``   activity-stream entries: "<Name> updated an article", "X commented on a post"
- ``widget-label``    widget and UI headings: "Recent Activities", "Pinned Items", "Related Posts"
- ``teaser``          read-more / see-also lines, in several languages: "Read more: ...", "Lea también: ..."
- ``promo``           newsletter, follow-us, app, subscription and paywall prompts
- ``credit``          photo credits, copyright lines, "Advertisement"
- ``timestamp``       a line that is only a date or a time, near the start or end of the text

Every rule is bounded by length: long lines are prose whatever words they hold,
so article sentences that merely mention "share", "cron" or a date are kept.
"""

from __future__ import annotations

import re
from typing import Optional

from crawler.extraction.textnorm import norm

MAX_WORDS = 18   # longer lines are never judged stray (except the explicit promo/paywall phrases)
MAX_PROMO_WORDS = 40

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
# "0", "12", "3 | 5", "(0)": small bare numbers, as like/comment/view counters print them
# a widget's reading: "71°F", "-3 °C"
_MEASURE = re.compile(r"^[-+\u2212]?\d{1,3}(?:[.,]\d)?\s*°\s*[CFcf]?$")
_BARE_COUNTS = re.compile(r"^[(\[]?\d{1,3}[)\]]?(?:(?:\s+|\s*[|·•/]\s*)[(\[]?\d{1,3}[)\]]?)*$")
_WORD = re.compile(r"[^\W_]+(?:[-'\u2019][^\W_]+)*", re.UNICODE)

# -- counters -------------------------------------------------------------------------
_COUNT_WORDS = (
    r"comments?|replies|reply|responses?|likes?|dislikes?|views?|reads?|shares?|votes?|points?|reactions?"
    r"|followers?|kommentare?|antworten|aufrufe|gefällt mir|comentarios?|respuestas?|me gusta|vistas|visitas"
    r"|commentaires?|réactions?|vues|commenti|risposte|komentarze?|komentarzy|odpowiedzi|wyświetle[nń]"
    r"|reacties|weergaven|kommentarer|visningar|lesezeit|read time|min read|minutes? read")
_COUNTER = re.compile(
    rf"^(?:(?:\d[\d.,]*\s*[kKmM]?\s*(?:{_COUNT_WORDS}))|(?:(?:{_COUNT_WORDS})\s*[:(\[]?\s*\d[\d.,]*\s*[kKmM]?\s*[)\]]?))"
    r"(?:\s*[|·•/,-]?\s*(?:\d[\d.,]*\s*[kKmM]?\s*(?:" + _COUNT_WORDS + r")|(?:" + _COUNT_WORDS +
    r")\s*[:(\[]?\s*\d[\d.,]*[)\]]?))*$", re.I)

# -- share / social widgets -------------------------------------------------------------
_SHARE_VOCAB = frozenset("""
share shares shared sharing tweet tweets retweet pin pinit pin-it email e-mail mail print printer
facebook twitter x linkedin whatsapp telegram reddit pinterest tumblr xing vk messenger flipboard
pocket threads bluesky mastodon instagram youtube tiktok rss feed copy link url permalink save
bookmark like follow on via to this the article story post page us with or and a an it
teilen drucken twittern kopieren artikel beitrag seite link-kopieren versenden senden per auf mit
compartir imprimir enviar copiar enlace correo en por este esta artículo nota
partager imprimer envoyer copier lien sur cet cette par le la
condividi stampa invia copia su questo articolo
udostępnij udostępnij: drukuj wyślij kopiuj skopiuj link na ten
delen afdrukken kopieer deel dit
""".split())
_SHARE_CORE = frozenset("""
share shares sharing tweet retweet pin pinit facebook twitter linkedin whatsapp telegram reddit pinterest
tumblr xing print email e-mail teilen drucken twittern compartir imprimir partager imprimer condividi
stampa udostępnij drukuj delen afdrukken messenger flipboard bluesky mastodon permalink
""".split())

# -- CMS / cron / UI status -------------------------------------------------------------
_STATUS = re.compile(
    r"\b(?:published|saved|posted|updated|deleted|submitted|sent|added|removed|created|uploaded)\s+successfully\b"
    r"|\bsuccessfully\s+(?:published|saved|posted|updated|deleted|submitted|sent|added|removed|created|uploaded)\b"
    r"|\b(?:is|are)\s+(?:now\s+)?(?:under|awaiting|pending)\s+(?:moderation|review|approval)\b"
    r"|\b(?:awaiting|pending)\s+(?:moderation|approval)\b"
    r"|\bwill\s+now\s+be\s+visible\b"
    r"|\b(?:there\s+(?:are|is)\s+)?no\s+(?:\w+\s+){0,2}(?:activities|activity|comments?|posts|items|entries|"
    r"results|notifications|events|reviews|replies)\s+(?:here\s+|to\s+show\s+|found\s+)?(?:yet|found|available)\b"
    r"|\bbe\s+the\s+first\s+to\s+(?:comment|review|like|reply|share|rate)\b"
    r"|\b(?:page|site)\s+(?:generated|rendered|created|built)\s+in\s+[\d.,]+\s*(?:ms|s|sec|seconds?)\b"
    r"|\b\d+\s+(?:queries|database\s+queries)\s+(?:in|executed)\b"
    r"|\bloaded\s+in\s+[\d.,]+\s*(?:ms|s|sec|seconds?)\b"
    r"|^(?:loading|please wait|wird geladen|lädt|cargando|chargement(?: en cours)?|caricamento|ładowanie)\W*$"
    r"|\b(?:you\s+(?:must|need\s+to)\s+be|please)\s+(?:logged\s+in|log\s*in|sign(?:ed)?\s+in|register(?:ed)?)\b"
    r"|\b(?:log\s*in|sign\s+in|register)\s+to\s+(?:comment|reply|post|like|vote|see|view|continue|join)\b"
    r"|\bkeine\s+kommentare\b|\bnoch\s+keine\s+(?:kommentare|beiträge|einträge)\b|\bnicht\s+eingeloggt\b"
    r"|\bno\s+hay\s+comentarios\b|\baucun\s+commentaire\b|\bbrak\s+komentarzy\b"
    r"|\b(?:javascript|cookies?)\s+(?:is|are|must\s+be)\s+(?:disabled|required|enabled)\b"
    r"|\benable\s+javascript\b", re.I)
# a short status line from a scheduled job or script: "Cron Job Starts", "Import finished", "Sync done"
_JOB_STATUS = re.compile(
    r"^(?:\W*\w+\W+){0,2}(?:cron(?:\s*jobs?|tab)?|jobs?|tasks?|batch|import|export|sync|backup|cache|queue|"
    r"script|indexing|migration|scheduler|worker)\W+(?:\w+\W+)?(?:starts?|started|starting|ends?|ended|"
    r"finish(?:ed|es)?|complete[sd]?|done|running|ran|executed|failed|succeeded|stopped|cleared|flushed)\b"
    r"[^.!?]*$", re.I)

_ACTIVITY = re.compile(
    r"^[\w.'\u2019-]+(?:\s+[\w.'\u2019-]+){0,2}\s+(?:has\s+|have\s+)?(?:updated|posted|published|shared|liked|"
    r"commented\s+on|added|created|uploaded|joined|started|replied\s+to|reacted\s+to|followed|edited|wrote)\s+"
    r"(?:an?|the|new|his|her|their|this|\d+)?\s*(?:new\s+)?(?:article|post|photo|photos|comment|item|event|story|"
    r"status|video|group|page|topic|thread|discussion|blog|entry|album|note|link|question|answer)s?\b", re.I)

# -- widget labels ----------------------------------------------------------------------
_WIDGET = re.compile(
    r"^(?:(?:most\s+)?(?:recent|latest|popular|trending|top|featured|pinned|related|similar|more|other|"
    r"recommended|suggested|sponsored|promoted|upcoming|archived?|previous|next)\s+"
    r"(?:activities|activity|items?|posts?|articles?|stories|news|comments?|headlines|videos?|photos|galleries|"
    r"events|topics|threads|reads|links|content|tags|categories|updates|entries|reading)"
    r"|(?:most\s+(?:read|viewed|popular|shared|commented|emailed))"
    r"|(?:[\w.'-]+\s+){0,2}(?:weather|forecast|wetter|clima|el\s+tiempo|météo)"
    r"|(?:[\w.'-]+\s+)?news"
    r"|(?:you\s+(?:may|might)\s+(?:also\s+)?(?:like|enjoy|be\s+interested\s+in))"
    r"|(?:trending(?:\s+now)?|popular(?:\s+now)?|recommended(?:\s+for\s+you)?|editor'?s\s+picks?|top\s+stories"
    r"|in\s+other\s+news|more\s+from\s+[\w\s.]{1,40}|tags?|categories|filed\s+under|leave\s+a\s+(?:reply|comment)"
    r"|post\s+a\s+comment|add\s+a\s+comment|write\s+a\s+comment|comments?|join\s+the\s+discussion"
    r"|newsletter|advertisement|advertising|sponsored(?:\s+content)?|werbung|anzeige|publicidad|publicité"
    r"|pubblicità|reklama|reklame|skip\s+to\s+(?:main\s+)?content|back\s+to\s+top|table\s+of\s+contents"
    r"|meistgelesen|meist\s+gelesen|meist-diskutiert|ähnliche\s+(?:artikel|beiträge)|weitere\s+(?:artikel|"
    r"beiträge|themen|nachrichten|meldungen)(?:\s+zum\s+thema)?|mehr\s+(?:zum\s+thema|themen|artikel)"
    r"|empfohlene\s+(?:artikel|beiträge)|das\s+könnte\s+(?:sie|dich)\s+auch\s+interessieren"
    r"|noticias\s+relacionadas|notas\s+relacionadas|contenido\s+relacionado|art[ií]culos\s+relacionados"
    r"|lo\s+m[aá]s\s+le[ií]do|temas|etiquetas|articles\s+similaires|à\s+lire\s+aussi|sur\s+le\s+même\s+sujet"
    r"|articoli\s+correlati|potrebbe\s+interessarti|czytaj\s+(?:też|także|również)|zobacz\s+(?:też|także)"
    r"|polecane|najczęściej\s+czytane|gerelateerde\s+artikelen|lees\s+ook))\s*[:.!?]?$", re.I)

# -- teasers: read-more / see-also lines --------------------------------------------------
_TEASER = re.compile(
    r"^(?:read\s+(?:more|also|next|this)|see\s+also|also\s+read|related(?:\s+(?:article|story|stories|post|"
    r"coverage|content|reading))?|more\s+on\s+(?:this|that)(?:\s+story)?|recommended|watch|listen"
    r"|lesen\s+sie\s+(?:auch|mehr|hier)|auch\s+(?:lesen|interessant)|mehr\s+(?:dazu|zum\s+thema|lesen)"
    r"|zum\s+weiterlesen|weiterlesen|schon\s+gelesen|siehe\s+auch|lies\s+auch|passend\s+dazu"
    r"|das\s+(?:thema\s+)?könnte\s+(?:sie|dich)\s+auch\s+interessieren"
    r"|lea\s+(?:también|además|más)|lee\s+(?:también|además|más)|vea\s+también|ver\s+también"
    r"|le\s+puede\s+interesar|te\s+puede\s+interesar|puedes\s+ver|podría\s+interesarte|también\s+te\s+puede"
    r"|más\s+sobre|relacionad[oa]s?|lire\s+aussi|à\s+lire(?:\s+aussi)?|voir\s+aussi|sur\s+le\s+même\s+sujet"
    r"|leggi\s+anche|vedi\s+anche|leia\s+(?:também|mais)|veja\s+também|czytaj\s+(?:też|także|również|więcej)"
    r"|zobacz\s+(?:też|także|również)|przeczytaj\s+(?:też|także|również)|lees\s+ook|zie\s+ook|läs\s+också"
    r"|les\s+også|læs\s+også)"
    r"\s*(?::|\.\.\.|\u2026|>>|\u00bb|\||-|\u2013|\u2014|\||$)", re.I)

# bare "see"/"read" markers in capitals or with a colon, before a headline (no final full stop)
_TEASER_BARE = re.compile(r"^(?:LEA|MIRA|MIRE|VEA|LEE|WATCH|LISTEN|READ|SEE|LESEN|LIRE|VOIR|CZYTAJ)\s*:\s*\S.*[^.!?]$"
                          r"|^(?:Lea|Mira|Mire|Vea|Lee)\s*:\s*\S.*[^.!?]$")

# -- promos: newsletter / follow / app / subscription / paywall ---------------------------
_PROMO = re.compile(
    r"\b(?:sign\s+up|subscribe|register|join)\b[^.!?]{0,60}\b(?:newsletter|our|updates|digest|briefing|today)\b"
    r"|\bour\s+(?:free\s+)?(?:newsletter|app|apps|podcast|telegram|whatsapp)\b"
    r"|\bfollow\s+(?:us|the\s+\w+)\s+on\b|\bfollow\s+us\b|\bconnect\s+with\s+us\b"
    r"|\bdownload\s+(?:our|the)\b[^.!?]{0,40}\bapps?\b|\bapps?\s+for\s+(?:ios|iphone|android)\b"
    r"|\b(?:to\s+)?(?:continue\s+reading|read\s+the\s+full\s+(?:story|article)|view\s+the\s+full\s+(?:story|article)"
    r"|unlock\s+this\s+(?:story|article))\b"
    r"|\balready\s+a\s+(?:subscriber|member)\b|\bsubscribe\s+now\b|\bsubscribers?\s+only\b"
    r"|\bnever\s+miss\b[^.!?]{0,40}\b(?:sign|subscribe|newsletter)"
    r"|\bnewsletter\s+(?:abonnieren|bestellen|anmelden)\b|\bzum\s+newsletter\b|\bjetzt\s+abonnieren\b"
    r"|\bfolgen\s+sie\s+uns\b|\bfolge\s+uns\b"
    r"|\bs[ií]guenos\s+en\b|\bsuscr[ií]bete\b|\b[úu]nete\b[^.!?]{0,40}\b(?:canal|telegram|whatsapp|grupo)\b"
    r"|\bnuestro\s+canal\s+de\s+(?:youtube|telegram|whatsapp)\b|\bhazte\s+miembro\b"
    r"|\babonnez-vous\b|\bpour\s+(?:lire\s+la\s+suite|accéder\s+en\s+illimité)\b|\bréservé\s+aux\s+abonnés\b"
    r"|\bsuivez-nous\b|\biscriviti\s+alla\s+newsletter\b|\bseguici\s+su\b"
    r"|\bzapraszamy\s+(?:też\s+)?do\s+subskrypcji\b|\bzapisz\s+się\b[^.!?]{0,40}\bnewsletter"
    r"|\bobserwuj\s+nas\b", re.I)

# -- credits ------------------------------------------------------------------------------
_CREDIT = re.compile(
    r"^(?:(?:photo|photos|image|images|picture|pictures|foto|fotos|bild|bilder|titelbild|beitragsbild|"
    r"bildquelle|fotoquelle|imagen|imágenes|crédits?(?:\s+photos?)?|credits?|zdjęcie|zdjęcia|fot\.|"
    r"header\s+image|cover\s+image|featured\s+image|illustration|grafik)\s*(?:credits?)?\s*[:©/|]"
    r"|©|\(c\)\s|copyright\b|all\s+rights\s+reserved|alle\s+rechte\s+vorbehalten|todos\s+los\s+derechos"
    r"|tous\s+droits\s+réservés)", re.I)
_CREDIT_ANYWHERE = re.compile(
    r"\ball\s+rights\s+reserved\b|\balle\s+rechte\s+vorbehalten\b|\btodos\s+los\s+derechos\s+reservados\b"
    r"|\btous\s+droits\s+réservés\b|\bcopyrighted\s+property\s+of\b|\bwritten\s+permission\s+must\s+be\b"
    r"|\bmateriał\s+chroniony\s+prawem\b", re.I)

# -- date / time only ---------------------------------------------------------------------
_MONTH_WORDS = (r"jan(?:uary|uar)?|feb(?:ruary|ruar)?|mar(?:ch)?|märz|apr(?:il)?|may|mai|jun[ei]?|jul[iy]?|"
                r"aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|okt(?:ober)?|nov(?:ember)?|dec(?:ember)?|dez(?:ember)?|"
                r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|"
                r"janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre")
_TIMESTAMP = re.compile(
    r"^(?:(?:published|posted|updated|last\s+(?:updated|modified)|modified|date|veröffentlicht|aktualisiert"
    r"(?:\s+am)?|stand|erstellt(?:\s+am)?|publicado|actualizado|publié(?:\s+le)?|mis\s+à\s+jour(?:\s+le)?"
    r"|pubblicato|aggiornato|opublikowano|aktualizacja)\s*(?:on|am|el|le|il)?\s*:?\s*)?"
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)\w*,?\s*)?"
    r"(?:"
    r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
    rf"|\d{{1,2}}\.?\s+(?:{_MONTH_WORDS})\.?(?:\s+\d{{4}})?"
    rf"|(?:{_MONTH_WORDS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    r"|\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?|uhr|h)?"
    r"|\d+\s+(?:minutes?|hours?|days?|weeks?|months?)\s+ago"
    r")"
    r"(?:\s*(?:,|-|\||at|um|à|a\s+las)?\s*\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?|uhr|h)?)?"
    r"(?:\s*(?:[A-Z]{2,4}|UTC[+-]?\d*|GMT[+-]?\d*))?\s*$", re.I)


def _share_only(tokens: list[str]) -> bool:
    lowered = [t.lower() for t in tokens]
    return all(t in _SHARE_VOCAB for t in lowered) and any(t in _SHARE_CORE for t in lowered)


def classify(line: str, *, at_edge: bool = True) -> Optional[str]:
    """The reason ``line`` is page furniture, or None if it may be article text.

    ``at_edge``: the line is among the first or last few of the text, where
    datelines and bylines sit; a date-only line elsewhere (a schedule) is kept.
    """
    if line.count(" ") > 3 * MAX_PROMO_WORDS:
        return None  # a paragraph of prose: no need to look closer
    text = norm(line)
    if not text:
        return None
    if not _LETTER.search(text):
        return "counter" if _BARE_COUNTS.match(text) else None
    if text.count(" ") >= MAX_PROMO_WORDS * 2:
        return None
    tokens = _WORD.findall(text)
    n = len(tokens)
    if n <= MAX_PROMO_WORDS:
        if _PROMO.search(text):
            return "promo"
        if _CREDIT_ANYWHERE.search(text):
            return "credit"
    if n > MAX_WORDS:
        return None
    if _COUNTER.match(text) or _MEASURE.match(text):
        return "counter"
    if _share_only(tokens):
        return "share-widget"
    if _STATUS.search(text) or (n <= 7 and _JOB_STATUS.match(text)):
        return "system-status"
    if n <= 10 and text[0].isupper() and text[-1] not in ".!?" and _ACTIVITY.match(text):
        return "activity-feed"
    if n <= 7 and _WIDGET.match(text):
        return "widget-label"
    if _TEASER.match(text) or _TEASER_BARE.match(text):
        return "teaser"
    if _CREDIT.match(text):
        return "credit"
    if at_edge and n <= 9 and _TIMESTAMP.match(text):
        return "timestamp"
    return None
