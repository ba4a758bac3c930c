"""The title -> career stage parser on a few hundred real-looking titles, the decided ambiguities and the limits.

The titles are written from public job-title vocabularies (O*NET occupation titles,
engineering and product career ladders, banking and consulting ladders, the titles
people put on LinkedIn); every entry is a decision the feature code relies on.
"""

from __future__ import annotations

import numpy as np
import pytest

from introrank.model.seniority import career_stage_from_title, is_bank, normalize_title, stages_from_titles

BY_STAGE: dict[int, list[str]] = {
    1: [
        "Student", "PhD Student", "MBA Student", "Graduate Student", "Undergraduate Student",
        "Computer Science Student", "Student at University of Michigan", "Intern", "Software Engineering Intern",
        "Summer Intern", "Marketing Intern", "Intern, Investment Banking", "Data Science Intern",
        "Product Management Intern", "Research Intern", "Legal Intern", "Engineering Intern @ Stripe",
        "Marketing Internship", "Trainee", "Management Trainee", "Graduate Trainee", "Apprentice Electrician",
        "Apprentice", "PhD Candidate", "Doctoral Candidate", "Teaching Assistant", "Student Ambassador",
        "Student / Part-time Barista", "PhD Student / Research Assistant", "Intern - Finance",
        "Undergraduate Research Assistant", "Design Intern | Figma",
    ],
    2: [
        "Junior Developer", "Junior Software Engineer", "Jr. Data Analyst", "Jr Accountant", "Junior Designer",
        "Associate", "Associate Consultant", "Associate Product Manager", "Associate Software Engineer",
        "Associate Attorney", "Associate, Investment Banking", "Assistant Editor", "Marketing Assistant",
        "Administrative Assistant", "Executive Assistant", "Executive Assistant to the CEO",
        "Personal Assistant to the Founder", "Office Assistant", "Research Assistant", "Graduate Engineer",
        "Entry Level Analyst", "Marketing Coordinator", "Project Coordinator", "HR Coordinator",
        "Recruiting Coordinator", "Receptionist", "Software Engineer I", "Analyst I", "Staff Accountant",
        "Postdoctoral Researcher", "Postdoc", "Research Fellow", "Associate Brand Manager",
        "Assistant Account Executive", "Junior Copywriter", "Jnr. Web Developer", "Associate Data Scientist",
        "Sales Assistant", "Legal Assistant",
    ],
    3: [
        "Software Engineer", "Software Developer", "Data Analyst", "Data Scientist", "Business Analyst",
        "Financial Analyst", "Analyst", "Accountant", "Consultant", "Product Designer", "UX Designer",
        "Graphic Designer", "Mechanical Engineer", "Civil Engineer", "Registered Nurse", "Teacher",
        "Account Manager", "Key Account Manager", "Product Manager", "Project Manager", "Program Manager",
        "Technical Program Manager", "Customer Success Manager", "Community Manager", "Social Media Manager",
        "Relationship Manager", "Territory Manager", "Partner Manager", "Partnerships Manager", "Brand Manager",
        "Office Manager", "Content Manager", "Event Manager", "Scrum Master", "Product Owner", "Account Executive",
        "Sales Executive", "Recruiter", "Technical Recruiter", "Talent Partner", "HR Business Partner",
        "Copywriter", "Journalist", "Paralegal", "Attorney", "Lawyer", "Pharmacist", "Physician",
        "Sales Representative", "Customer Service Representative", "Account Representative",
        "Business Development Representative", "Sales Development Representative", "Marketing Specialist",
        "HR Generalist", "Web Developer", "Full Stack Developer", "Frontend Engineer", "Backend Engineer",
        "DevOps Engineer", "Site Reliability Engineer", "QA Engineer", "Machine Learning Engineer",
        "Data Engineer", "Electrician", "Software Engineer II", "Engineer II", "Founding Engineer",
        "Lead Generation Specialist", "Freelance Designer", "Software Engineer at Google",
        "Software Engineer @ Meta", "Software Engineer, Payments", "Product Manager, Growth",
        "Developer Advocate", "Customer Support Specialist", "Operations Analyst", "Investment Analyst",
        "Chief Resident", "Engineer / Designer", "PM", "SWE", "Writer & Editor", "Social Worker",
        "Content Strategist", "Solutions Consultant", "Cisco Network Engineer",
    ],
    4: [
        "Senior Software Engineer", "Sr. Software Engineer", "Sr Software Engineer", "Senior Engineer",
        "Senior Data Scientist", "Senior Product Designer", "Senior Consultant", "Senior Accountant",
        "Senior Analyst", "Senior Associate", "Senior Product Manager", "Sr. Product Manager",
        "Senior Account Manager", "Senior Account Executive", "Senior Project Manager",
        "Senior Customer Success Manager", "Senior Recruiter", "Senior HR Business Partner",
        "Sr. HR Business Partner", "Staff Engineer", "Staff Software Engineer", "Staff Data Scientist",
        "Staff Product Designer", "Principal Engineer", "Principal Software Engineer", "Principal Consultant",
        "Principal Product Manager", "Principal", "Principal Data Scientist", "Software Engineer III",
        "Engineer IV", "Solutions Architect", "Software Architect", "Enterprise Architect", "Cloud Architect",
        "Art Director", "Assistant Professor", "Lecturer, Senior", "Senior Lecturer", "Assistant Manager",
        "Assistant Store Manager", "Senior Software Engineer at Amazon", "Senior Engineer, Platform",
        "Snr. Developer", "Senior Attorney", "Senior Nurse", "Expert Engineer", "Senior UX Researcher",
        "Senior Copywriter", "Senior Financial Analyst", "Senior Sales Representative", "Sr.Engineer",
        "Senior Associate, Corporate Finance", "Senior Scrum Master",
    ],
    5: [
        "Team Lead", "Tech Lead", "Technical Lead", "Lead Engineer", "Lead Software Engineer", "Lead Designer",
        "Lead Data Scientist", "Engineering Lead", "Design Lead", "Product Lead", "Team Leader", "Teamlead",
        "Manager", "Engineering Manager", "Software Engineering Manager", "Senior Manager", "Sales Manager",
        "Marketing Manager", "Operations Manager", "Store Manager", "General Merchandise Manager",
        "Finance Manager", "HR Manager", "IT Manager", "Manager, Account Management", "Manager of Data Science",
        "Senior Manager, Product Marketing", "Group Product Manager", "Lead Product Manager", "Head of Data",
        "Head of Engineering", "Head of Product", "Head of Procurement", "Head of Sales & Marketing", "Head Chef",
        "Head Coach", "Deputy Head", "Associate Director", "Assistant Director", "Deputy Director",
        "Associate Director, Clinical Operations", "Supervisor", "Shift Supervisor", "Foreman",
        "Construction Superintendent", "Managing Consultant", "Managing Editor", "Engagement Manager",
        "Research & Development Manager", "Senior Engineer / Team Lead", "Engineering Manager at Acme",
        "Mgr, Finance", "Associate Professor", "Development Manager", "Practice Lead",
        "Senior Sales & Marketing Manager",
    ],
    6: [
        "Director", "Director of Engineering", "Director of Product", "Director of Product Management",
        "Director of Operations", "Director of Partnerships", "Director, Product", "Senior Director",
        "Senior Director, Product", "Sr. Director of Engineering", "Sales Director", "Marketing Director",
        "Creative Director", "Technical Director", "Director of Sales and Marketing", "Regional Director",
        "Director of Research and Development", "General Manager", "GM", "General Manager, EMEA",
        "Assistant Vice President", "Associate Vice President", "AVP, Operations", "Chief of Staff",
        "Chief of Staff to the CEO", "Professor", "Full Professor", "Distinguished Engineer", "Technical Fellow",
        "Dir. of Marketing", "Director at Globex Health", "Program Director", "Director - Sales",
    ],
    7: [
        "VP", "VP Engineering", "VP, Sales", "VP of Product", "V.P. of Sales", "Vice President",
        "Vice President, Sales", "Vice-President of Operations", "Vice President of Engineering",
        "SVP", "SVP Marketing", "Senior Vice President", "Executive Vice President", "EVP, Finance",
        "Group Vice President", "Regional Vice President", "CEO", "CTO", "CFO", "COO", "CMO", "CIO", "CISO",
        "CHRO", "Chief Executive Officer", "Chief Technology Officer", "Chief Financial Officer",
        "Chief Operating Officer", "Chief Marketing Officer", "Chief Product Officer", "Chief Revenue Officer",
        "Chief People Officer", "Chief Scientist", "Editor-in-Chief", "C-Level Executive", "Founder",
        "Co-Founder", "Cofounder", "Co-founder & CTO", "Founder & CEO", "Founder / CEO", "CEO/Founder",
        "Founder | Speaker | Author", "Founding Partner", "Partner", "Managing Partner", "General Partner",
        "Senior Partner", "Equity Partner", "Partner, Sequoia Capital", "Partner at McKinsey & Company",
        "Venture Partner", "President", "President & CEO", "Managing Director", "Managing Director, Europe",
        "Executive Director", "Director General", "Owner", "Business Owner", "Co-Owner", "Owner/Operator",
        "Chairman", "Chairman of the Board", "Board Member", "Non-Executive Director", "Trustee", "Dean",
        "Provost", "VP Engineering at Acme", "VP, Strategy", "VP Partnerships", "Chief Executive",
    ],
}

UNKNOWN = [
    "", "   ", None, float("nan"), "Retired", "Unemployed", "Self-employed", "Open to work",
    "Seeking new opportunities", "Looking for my next role", "Career break", "N/A", "--", "TBD",
    "Geschäftsführer", "Geschaeftsfuehrer", "Leiter Vertrieb", "Werkstudent", "Projektleiter",
    "Director de Ventas", "Gerente de Proyectos", "Jefe de Ventas", "Ingeniero de Software",
    "Desarrolladora Full Stack", "Directeur Général", "Chef de projet", "Responsable Marketing",
    "Développeur", "Ingénieur logiciel", "Stagiaire", "PDG", "Diretor Comercial", "Engenheiro de Dados",
    "Direttore Generale", "Amministratore Delegato", "Presidente", "Socio Fundador", "Medewerker Klantenservice",
    "Projektmanager", "取締役", "部長", "Генеральный директор", "مدير", "Inhaber", "Analista de Datos",
]


CASES = [(title, stage) for stage, titles in BY_STAGE.items() for title in titles]


def test_hundreds_of_titles():
    assert len(CASES) + len(UNKNOWN) > 300
    assert len({t for t, _ in CASES}) == len(CASES), "a title is listed twice"


@pytest.mark.parametrize(("title", "stage"), CASES)
def test_title_maps_to_its_stage(title, stage):
    assert career_stage_from_title(title) == stage


@pytest.mark.parametrize("title", UNKNOWN, ids=repr)
def test_no_job_or_another_language_is_unknown(title):
    assert career_stage_from_title(title) is None


@pytest.mark.parametrize(("title", "company", "industry", "stage"), [
    # Banks hand out "Vice President" to senior individual contributors (the ladder runs
    # analyst, associate, VP, director, MD): a VP at a bank is 4, not an executive.
    ("Vice President", "Goldman Sachs", None, 4),
    ("Vice President", "Contoso Bank", None, 4),
    ("VP, Equity Research", None, "Investment Banking", 4),
    ("Vice President", None, "Banking", 4),
    ("Vice President at J.P. Morgan", None, None, 4),
    ("VP at Goldman Sachs", None, None, 4),
    ("Assistant Vice President", "JPMorgan Chase & Co.", None, 3),
    ("AVP", "Barclays", None, 3),
    ("Senior Vice President", "Wells Fargo", None, 6),
    ("SVP", None, "Capital Markets", 6),
    ("Executive Director", "Morgan Stanley", None, 6),
    ("Managing Director", "Goldman Sachs", None, 7),
    ("Director", "HSBC", None, 6),
    ("Analyst", "Goldman Sachs", None, 3),
    ("Associate", "Goldman Sachs", None, 2),
    # Not a bank: a VP is an executive.
    ("Vice President", "Wayne Enterprises", "Finance", 7),
    ("Vice President", "Stark Industries", "Manufacturing", 7),
    ("Vice President", "Northwind Analytics", "Computer Software", 7),
    ("Senior Vice President", "Globex Health", None, 7),
    ("Executive Director", "Habitat for Humanity", "Non-profit", 7),
])
def test_bank_titles_are_inflated(title, company, industry, stage):
    assert career_stage_from_title(title, company, industry) == stage


def test_bank_detection_reads_company_and_industry():
    assert is_bank("Bank of America") and is_bank(None, "Banking") and is_bank("Citigroup Inc.")
    assert not is_bank("Bankside Coffee") and not is_bank("Acme", "Financial Technology")
    assert not is_bank(None, None) and not is_bank(float("nan"))


def test_normalisation_of_case_punctuation_abbreviations_and_company_suffix():
    assert normalize_title("  Sr. VP,  Sales & Marketing  at  ACME Corp ") == (
        ["senior vp", "sales", "marketing"], "acme corp")
    assert normalize_title("V.P. of Eng / Head of Data | Speaker") == (
        ["vp of engineer", "head of data", "speaker"], "")
    assert normalize_title("Jr. Mgr @Initech") == (["junior manager"], "initech")
    assert normalize_title("Co-Founder - CEO") == (["co founder", "ceo"], "")
    assert normalize_title(None) == ([], "")
    for spelling in ("vp engineering", "VP ENGINEERING", "Vp. Engineering", "VP - Engineering",
                     "VP, Engineering", "V.P. Engineering", "VP Engineering at Acme"):
        assert career_stage_from_title(spelling) == 7, spelling


def test_the_ambiguous_manager_cases():
    # "Manager" in the name of an individual-contributor role does not make a people manager...
    assert career_stage_from_title("Account Manager") == career_stage_from_title("Product Manager") == 3
    # ...but their level words still move them, and "Manager" alone (or of a function) does.
    assert career_stage_from_title("Senior Product Manager") == 4
    assert career_stage_from_title("Associate Product Manager") == 2
    assert career_stage_from_title("Group Product Manager") == 5
    assert career_stage_from_title("Manager, Product Management") == 5
    assert career_stage_from_title("Director of Product Management") == 6
    # A "Partner Manager" manages partnerships, not a firm; a "Partner" is one of its owners.
    assert (career_stage_from_title("Partner Manager"), career_stage_from_title("Partner")) == (3, 7)


def test_several_roles_take_the_highest_unless_one_is_a_student():
    assert career_stage_from_title("Software Engineer / Team Lead") == 5
    assert career_stage_from_title("Advisor & Board Member") == 7
    assert career_stage_from_title("Intern, Software Engineering") == 1
    assert career_stage_from_title("Software Engineer | Développeur") == 3  # the English part is read


def test_vectorised_equals_one_by_one_and_keeps_unknown_as_nan():
    titles = [t for t, _ in CASES] + UNKNOWN[:5] + ["Vice President"]
    companies = [None] * (len(titles) - 1) + ["Goldman Sachs"]
    got = stages_from_titles(titles, companies)
    want = np.array([np.nan if (s := career_stage_from_title(t, c)) is None else s
                     for t, c in zip(titles, companies, strict=True)], dtype=float)
    np.testing.assert_array_equal(got, want)
    assert got[-1] == 4 and np.isnan(got[len(CASES)])
    assert stages_from_titles([]).shape == (0,)
